/**
 * Generator families: for each condition, independent ways of making it, each with a strength
 * from 1 (light) through 3 (moderate) to 5 (heavy), continuous. `physical` families form the
 * condition the way it occurs (physical.ts); `imagenet-c` is ImageNet-C / CIFAR-10-C at its
 * canonical severities; the rest are the project's first generators (kept so that earlier figures
 * and signatures reproduce bit for bit: they are each condition's default family). Between
 * integer strengths, a table family interpolates its tuples linearly. Sources: sources.ts.
 */
import type { Random } from '../random.js';
import { FOG_PARAMS, FOG_PARAMS_CANONICAL, fogWith } from './fog.js';
import type { Image } from './image.js';
import { LOW_LIGHT_PARAMS, lowLightWith } from './low-light.js';
import { MOTION_BLUR_PARAMS, motionBlurWith } from './motion-blur.js';
import { gaussianNoise, NOISE_SIGMA } from './noise.js';
import {
  fogPhysical,
  fogPhysicalParams,
  lowLightPhysical,
  lowLightPhysicalParams,
  motionBlurPhysical,
  noisePhysical,
  noisePhysicalParams,
  rainPhysical,
  rainPhysicalParams,
  shakePhysicalParams,
  snowPhysical,
  snowPhysicalParams,
} from './physical.js';
import { RAIN_PARAMS, rainWith } from './rain.js';
import { SNOW_PARAMS, SNOW_PARAMS_CANONICAL, snowWith } from './snow.js';
import type { SourceKey } from './sources.js';

/** One way of making a condition. */
export interface Family {
  /** Unique within its condition: `physical`, `imagenet-c`, … */
  id: string;
  condition: string;
  /** What it models, in a line. */
  about: string;
  source: SourceKey;
  /** The parameters it uses at a strength (for `rws corrupt --families` and the tests). */
  params(strength: number): Record<string, unknown>;
  apply(img: Image, strength: number, rng: Random): Image;
  /** Its ids in a pack's or signature's history before families existed (the default family). */
  legacy?: boolean;
}

/** Linear interpolation between the rows of a 5-row table at a strength in 1..5. */
export function tableAt(table: readonly (readonly number[])[], strength: number): number[] {
  const s = Math.min(5, Math.max(1, strength));
  const lo = Math.floor(s);
  const f = s - lo;
  const a = table[lo - 1]!;
  if (f === 0 || lo === 5) return [...a];
  const b = table[lo]!;
  return a.map((v, i) => v + (b[i]! - v) * f);
}

const lowLightTable = LOW_LIGHT_PARAMS.level.map((l, i) => [l, LOW_LIGHT_PARAMS.photons[i]!, LOW_LIGHT_PARAMS.readNoise[i]!]);
const noiseTable = NOISE_SIGMA.map((s) => [s]);

function table(id: string, condition: string, about: string, source: SourceKey, rows: readonly (readonly number[])[], names: string[], fn: (img: Image, p: readonly number[], rng: Random) => Image, legacy = false): Family {
  return {
    id,
    condition,
    about,
    source,
    legacy,
    params: (s) => Object.fromEntries(tableAt(rows, s).map((v, i) => [names[i]!, v])),
    apply: (img, s, rng) => fn(img, tableAt(rows, s), rng),
  };
}

function physical(condition: string, about: string, source: SourceKey, params: (s: number) => object, apply: (img: Image, s: number, rng: Random) => Image): Family {
  return { id: 'physical', condition, about, source, params: (s) => ({ ...params(s) }), apply };
}

/** Every family, by condition; the first of each condition is its default. */
export const FAMILIES: Family[] = [
  table('rws-v1', 'fog', 'the first fog: a thin CIFAR-10-C plasma fog (a = .03–.3)', 'imagenet-c', FOG_PARAMS, ['a', 'wibbledecay'], fogWith, true),
  physical('fog', 'atmospheric scattering over a synthetic ground-plane depth map, bright airlight; far-end transmission 0.7 → 0.1', 'koschmieder', fogPhysicalParams, fogPhysical),
  table('imagenet-c', 'fog', 'CIFAR-10-C fog at its canonical severities: x + a·plasma, a = .2–1.5', 'imagenet-c', FOG_PARAMS_CANONICAL, ['a', 'wibbledecay'], fogWith),

  table('3dcc', 'low-light', '3D Common Corruptions low_light: darkened by imadjust γ=2, Poisson–Gaussian noise', '3dcc', lowLightTable, ['level', 'photons', 'readNoise'], lowLightWith, true),
  physical('low-light', 'linear light, exposure cut 2 → 6 stops, shot and read noise, partial camera gain, gamma, 8 bits', 'low-light-formation', lowLightPhysicalParams, lowLightPhysical),

  table('albumentations', 'rain', 'albumentations RandomRain: slanted streaks, box blur, darkening', 'albumentations', RAIN_PARAMS, ['dropsPer100px', 'lengthShare', 'blurShare', 'brightness', 'slantMax'], rainWith, true),
  physical('rain', 'streaks in two depth layers at a wind angle over a rain veil, I = T·(J + ΣS) + (1−T)·A; 1 → 100 mm/h', 'rain-streaks', rainPhysicalParams, rainPhysical),

  table('rws-v1', 'snow', 'the first snow: CIFAR-10-C snow at severity 1 with thresholds .65–.5', 'imagenet-c', SNOW_PARAMS, ['loc', 'scale', 'zoom', 'threshold', 'radius', 'sigma', 'blend'], snowWith, true),
  physical('snow', 'flakes of varied size and opacity over a snowfall veil; visibility 2 km → 100 m', 'snowfall', snowPhysicalParams, snowPhysical),
  table('imagenet-c', 'snow', 'CIFAR-10-C snow at its canonical severities', 'imagenet-c', SNOW_PARAMS_CANONICAL, ['loc', 'scale', 'zoom', 'threshold', 'radius', 'sigma', 'blend'], snowWith),

  table('imagenet-c', 'noise', 'CIFAR-10-C gaussian_noise, σ = .04–.10', 'imagenet-c', noiseTable, ['sigma'], (img, [sd], rng) => gaussianNoise(img, sd!, rng), true),
  physical('noise', 'Poisson shot noise and read noise at high gain in linear light; 2000 → 20 e⁻ at white', 'sensor-noise', noisePhysicalParams, noisePhysical),

  table('imagenet-c', 'motion-blur', 'CIFAR-10-C motion_blur (ImageMagick kernel), radius 10–12, σ 1–3', 'imagenet-c', MOTION_BLUR_PARAMS, ['radius', 'sigma'], motionBlurWith, true),
  physical('motion-blur', 'camera-shake trajectory with inertia and jerks; length 4% → 30% of the frame', 'camera-shake', shakePhysicalParams, motionBlurPhysical),
];

/** The families of a condition, its default first. */
export function familiesOf(condition: string): Family[] {
  return FAMILIES.filter((f) => f.condition === condition);
}

/** A family by condition and id (undefined when there is none). */
export function findFamily(condition: string, id: string): Family | undefined {
  return FAMILIES.find((f) => f.condition === condition && f.id === id);
}
