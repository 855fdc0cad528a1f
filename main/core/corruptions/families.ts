/**
 * Generator families: for each condition, independent ways of making it, each with a strength
 * from 1 (light) through 3 (moderate) to 5 (heavy), continuous. `physical` families form the
 * condition the way it occurs (physical.ts); `imagenet-c` is ImageNet-C / CIFAR-10-C at its
 * canonical severities; others follow how public data sets synthesise the condition (RESIDE's haze,
 * LLNet's gamma darkening, Rain100's streak layers, albumentations' blurs); the first of each single
 * condition is the project's first generator (kept so that earlier figures and signatures reproduce
 * bit for bit: the default family). Between integer strengths, a table family interpolates its
 * tuples linearly. A compound condition (foggy night, night rain) applies one family of each part
 * in turn (each three quarters of the way along its own scale). Sources: sources.ts.
 */
import type { Random } from '../random.js';
import { FOG_PARAMS, FOG_PARAMS_CANONICAL, fogWith, hazeDisplay, hazeDisplayParams } from './fog.js';
import type { Image } from './image.js';
import { gammaDark, gammaDarkParams, LOW_LIGHT_PARAMS, lowLightWith } from './low-light.js';
import { lineBlur, lineBlurParams, MOTION_BLUR_PARAMS, motionBlurWith } from './motion-blur.js';
import { gaussianNoise, NOISE_SIGMA, SHOT_PHOTONS, shotNoise } from './noise.js';
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
import { RAIN_PARAMS, rainLayer, rainLayerParams, rainWith } from './rain.js';
import { flakeLayer, flakeLayerParams, SNOW_PARAMS, SNOW_PARAMS_CANONICAL, snowWith } from './snow.js';
import type { SourceKey } from './sources.js';

/** One way of making a condition. */
export interface Family {
  /** Unique within its condition: `physical`, `imagenet-c`, … */
  id: string;
  condition: string;
  /** What it models, in a line. */
  about: string;
  /** Where it comes from (a compound family: each part's source). */
  sources: readonly SourceKey[];
  /**
   * Families that share an implementation share a lineage (the thin first fog is ImageNet-C's fog
   * algorithm): leave-one-family-out leaves a whole lineage out, so that what is held out is an
   * implementation the training never saw.
   */
  lineage: string;
  /** The parameters it uses at a strength (for `rws corrupt --families` and the tests). */
  params(strength: number): Record<string, unknown>;
  apply(img: Image, strength: number, rng: Random): Image;
  /** The project's first generator for the condition (its default family). */
  legacy?: boolean;
  /** A compound condition's family: the part families it applies, in order. */
  steps?: readonly { condition: string; family: string }[];
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
const shotTable = SHOT_PHOTONS.map((c) => [c]);

interface Extra {
  legacy?: boolean;
  lineage?: string;
}

function table(id: string, condition: string, about: string, source: SourceKey, rows: readonly (readonly number[])[], names: string[], fn: (img: Image, p: readonly number[], rng: Random) => Image, extra: Extra = {}): Family {
  return {
    id,
    condition,
    about,
    sources: [source],
    lineage: extra.lineage ?? id,
    legacy: extra.legacy ?? false,
    params: (s) => Object.fromEntries(tableAt(rows, s).map((v, i) => [names[i]!, v])),
    apply: (img, s, rng) => fn(img, tableAt(rows, s), rng),
  };
}

function formed(id: string, condition: string, about: string, source: SourceKey, params: (s: number) => object, apply: (img: Image, s: number, rng: Random) => Image): Family {
  return { id, condition, about, sources: [source], lineage: id, params: (s) => ({ ...params(s) }), apply };
}

const SINGLE: Family[] = [
  table('rws-v1', 'fog', 'the first fog: a thin CIFAR-10-C plasma fog (a = .03–.3)', 'imagenet-c', FOG_PARAMS, ['a', 'wibbledecay'], fogWith, { legacy: true, lineage: 'imagenet-c' }),
  formed('physical', 'fog', 'atmospheric scattering in linear light over a synthetic ground-plane depth map, bright airlight; far-end transmission 0.9 → 0.1', 'koschmieder', fogPhysicalParams, fogPhysical),
  table('imagenet-c', 'fog', 'CIFAR-10-C fog at its canonical severities: x + a·plasma, a = .2–1.5', 'imagenet-c', FOG_PARAMS_CANONICAL, ['a', 'wibbledecay'], fogWith),
  formed('display-haze', 'fog', 'the scattering model on display values as dehazing data sets make haze: homogeneous or graded, mean transmission 0.8 → 0.12', 'reside', hazeDisplayParams, hazeDisplay),

  table('3dcc', 'low-light', '3D Common Corruptions low_light: darkened by imadjust γ=2, Poisson–Gaussian noise', '3dcc', lowLightTable, ['level', 'photons', 'readNoise'], lowLightWith, { legacy: true }),
  formed('physical', 'low-light', 'linear light, exposure cut 2 → 6 stops, shot and read noise, partial camera gain, gamma, 8 bits', 'low-light-formation', lowLightPhysicalParams, lowLightPhysical),
  formed('gamma-dark', 'low-light', 'display values darkened by a gamma curve (γ 2 → 5) and a scale, additive Gaussian noise, 8 bits', 'llnet', gammaDarkParams, gammaDark),

  table('albumentations', 'rain', 'albumentations RandomRain: slanted streaks, box blur, darkening', 'albumentations', RAIN_PARAMS, ['dropsPer100px', 'lengthShare', 'blurShare', 'brightness', 'slantMax'], rainWith, { legacy: true }),
  formed('physical', 'rain', 'streaks in two depth layers at a wind angle over a rain veil, I = T·(J + ΣS) + (1−T)·A; 1 → 100 mm/h', 'rain-streaks', rainPhysicalParams, rainPhysical),
  formed('streak-layer', 'rain', 'a streak layer smeared from sparse seeds along one direction, screen-blended over the dimmed scene, behind a veil of accumulated rain (transmission 0.95 → 0.6)', 'rain100', rainLayerParams, rainLayer),

  table('rws-v1', 'snow', 'the first snow: CIFAR-10-C snow at severity 1 with thresholds .65–.5', 'imagenet-c', SNOW_PARAMS, ['loc', 'scale', 'zoom', 'threshold', 'radius', 'sigma', 'blend'], snowWith, { legacy: true, lineage: 'imagenet-c' }),
  formed('physical', 'snow', 'flakes of varied size and opacity over a snowfall veil; visibility 2 km → 100 m', 'snowfall', snowPhysicalParams, snowPhysical),
  table('imagenet-c', 'snow', 'CIFAR-10-C snow at its canonical severities', 'imagenet-c', SNOW_PARAMS_CANONICAL, ['loc', 'scale', 'zoom', 'threshold', 'radius', 'sigma', 'blend'], snowWith),
  formed('flake-layer', 'snow', 'three layers of soft flakes smeared along the fall, over a scene lifted towards white (imgaug Snowflakes)', 'imgaug', flakeLayerParams, flakeLayer),

  table('imagenet-c', 'noise', 'CIFAR-10-C gaussian_noise, σ = .04–.10', 'imagenet-c', noiseTable, ['sigma'], (img, [sd], rng) => gaussianNoise(img, sd!, rng), { legacy: true }),
  formed('physical', 'noise', 'Poisson shot noise and read noise at high gain in linear light; 2000 → 20 e⁻ at white', 'sensor-noise', noisePhysicalParams, noisePhysical),
  table('shot', 'noise', 'CIFAR-10-C shot_noise on display values: Poisson(x·c)/c, c = 500–50', 'imagenet-c', shotTable, ['photons'], (img, [c], rng) => shotNoise(img, c!, rng)),

  table('imagenet-c', 'motion-blur', 'CIFAR-10-C motion_blur (ImageMagick kernel), radius 10–12, σ 1–3', 'imagenet-c', MOTION_BLUR_PARAMS, ['radius', 'sigma'], motionBlurWith, { legacy: true }),
  formed('physical', 'motion-blur', 'camera-shake trajectory with inertia and jerks; length 4% → 30% of the frame', 'camera-shake', shakePhysicalParams, motionBlurPhysical),
  formed('line', 'motion-blur', 'a straight line kernel at a random angle (albumentations MotionBlur); 8% → 40% of the frame', 'albumentations', lineBlurParams, lineBlur),
];

function single(condition: string, id: string): Family {
  const f = SINGLE.find((x) => x.condition === condition && x.id === id);
  if (!f) throw new Error(`no family ${condition}/${id}`);
  return f;
}

/**
 * Each part of a compound condition at a compound strength: three quarters of the way along its
 * own scale (strength 5 = each part at 4), since two conditions at once compound.
 */
export function partStrength(strength: number): number {
  return 1 + 0.75 * (strength - 1);
}

/** A compound condition's family: `parts` (condition/family) applied in order, each at `partStrength`. */
function compound(id: string, condition: string, about: string, parts: readonly string[]): Family {
  const steps = parts.map((p) => {
    const [c = '', f = ''] = p.split('/');
    return { condition: c, family: f };
  });
  const fams = steps.map((s) => single(s.condition, s.family));
  return {
    id,
    condition,
    about,
    sources: [...new Set(fams.flatMap((f) => f.sources))],
    lineage: id,
    steps,
    params: (s) => Object.fromEntries(fams.map((f) => [`${f.condition}/${f.id}`, f.params(partStrength(s))])),
    apply: (img, s, rng) => fams.reduce((acc, f) => f.apply(acc, partStrength(s), rng), img),
  };
}

const COMPOUND: Family[] = [
  compound('physical', 'foggy-night', 'fog formed in the scene (physical fog), seen at night (physical low light)', ['fog/physical', 'low-light/physical']),
  compound('canonical', 'foggy-night', 'the benchmarks composed: 3DCC low light, then CIFAR-10-C fog over it', ['low-light/3dcc', 'fog/imagenet-c']),
  compound('display', 'foggy-night', 'display-space haze, then gamma darkening and noise', ['fog/display-haze', 'low-light/gamma-dark']),
  compound('lit', 'foggy-night', 'a dark, noisy night capture (physical low light), then fog lit by street lamps over it (display-space haze)', ['low-light/physical', 'fog/display-haze']),
  compound('physical', 'night-rain', 'rain formed in the scene (physical rain), seen at night (physical low light)', ['rain/physical', 'low-light/physical']),
  compound('canonical', 'night-rain', 'the benchmarks composed: 3DCC low light, then albumentations rain over it', ['low-light/3dcc', 'rain/albumentations']),
  compound('display', 'night-rain', 'a rain streak layer, then gamma darkening and noise', ['rain/streak-layer', 'low-light/gamma-dark']),
  compound('lit', 'night-rain', 'a dark, noisy night capture (physical low light), then rain lit by street lamps over it (a streak layer)', ['low-light/physical', 'rain/streak-layer']),
];

/** Every family, by condition; the first of each condition is its default. */
export const FAMILIES: Family[] = [...SINGLE, ...COMPOUND];

/** The families of a condition, its default first. */
export function familiesOf(condition: string): Family[] {
  return FAMILIES.filter((f) => f.condition === condition);
}

/** A family by condition and id (undefined when there is none). */
export function findFamily(condition: string, id: string): Family | undefined {
  return FAMILIES.find((f) => f.condition === condition && f.id === id);
}
