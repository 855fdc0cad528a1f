/**
 * Camera nuisances: how a camera and a generator may render a condition differently, apart from the
 * condition itself (a little blur, exposure gain, a tone curve, a faint veil, sensor noise). A
 * signature trained on its condition's generators alone learns their details as well as the
 * condition; with nuisances on half of its corrupted training images it has to learn the condition.
 * The recipe (native-models/recipe/nuisance.ts) and `rws train --nuisances` use these.
 */
import type { Random } from '../random.js';
import { fromPlanes, gaussianBlurPlane, planes, type Image } from './image.js';

/** Share of the corrupted training images that get nuisances. */
export const NUISANCE_SHARE = 0.5;

/**
 * How far the nuisances reach. `standard`: a faint veil (transmission 0.75–0.98) and a little blur
 * (σ 0.3–1.2 px), the recipe's first. `wide`: a veil down to 0.45 and blur to σ 1.5 px, as heavy
 * weather brings them: rain accumulating between camera and scene is a veil as dense as mist (Li et
 * al., CVPR 2019, I = T·(J + ΣS) + (1−T)·A), and scattering by drops blurs the scene behind. With the
 * standard reach, rain's signature trained without its physical family scored 29.5% on that family at
 * strength 5 (the clean model 10.4%, the model fine-tuned on it 77.0%); with the wide reach, 68.3%.
 */
export type NuisanceLevel = 'standard' | 'wide';
export const NUISANCE_LEVELS: readonly NuisanceLevel[] = ['standard', 'wide'];
const REACH: Record<NuisanceLevel, { blurMax: number; veilMin: number }> = {
  standard: { blurMax: 1.2, veilMin: 0.75 },
  wide: { blurMax: 1.5, veilMin: 0.45 },
};

/** One draw of the nuisances, each present with its own chance. */
export interface Nuisance {
  /** Gaussian blur σ in pixels (0: none). */
  blur: number;
  gain: number;
  gamma: number;
  /** Transmission of a veil of light `airlight` (1: none). */
  veil: number;
  airlight: number;
  /** Gaussian noise σ (0: none). */
  noise: number;
}

export function drawNuisance(rng: Random, level: NuisanceLevel = 'standard'): Nuisance {
  const { blurMax, veilMin } = REACH[level];
  const maybe = (p: number, lo: number, hi: number, none: number) => (rng.next() < p ? rng.uniform(lo, hi) : none);
  return {
    blur: maybe(0.4, 0.3, blurMax, 0),
    gain: maybe(0.5, 0.65, 1.15, 1),
    gamma: maybe(0.4, 0.75, 1.35, 1),
    veil: maybe(0.3, veilMin, 0.98, 1),
    airlight: rng.uniform(0.3, 0.9),
    noise: maybe(0.3, 0.005, 0.03, 0),
  };
}

/** Applies nuisances to an image (display values 0..1); values stay in 0..1. */
export function applyNuisance(img: Image, n: Nuisance, rng: Random): Image {
  let data = img.data;
  if (n.blur > 0) data = fromPlanes(img, planes(img).map((p) => gaussianBlurPlane(p, img.width, img.height, n.blur))).data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    let v = Math.min(1, Math.max(0, data[i]! * n.gain)) ** n.gamma;
    v = v * n.veil + n.airlight * (1 - n.veil);
    if (n.noise > 0) v += rng.normal(0, n.noise);
    out[i] = Math.min(1, Math.max(0, v));
  }
  return { ...img, data: out };
}
