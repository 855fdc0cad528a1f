import type { Random } from '../random.js';
import { clamp01, type Image, type Severity } from './image.js';
import { linear } from './scale.js';

/**
 * Low light: 3D Common Corruptions `low_light`: darken with imadjust(x, min, max → 0, c, γ=2),
 * c = [.6, .5, .4, .3, .2], then Poisson–Gaussian sensor noise: Poisson with 10·[60, 25, 12, 5, 3]
 * photons at full scale, plus Gaussian noise of σ = 0.1·[.08, .12, .18, .26, .38].
 */
export const LOW_LIGHT_PARAMS = {
  level: [0.6, 0.5, 0.4, 0.3, 0.2],
  photons: [600, 250, 120, 50, 30],
  readNoise: [0.008, 0.012, 0.018, 0.026, 0.038],
} as const;

export function lowLight(img: Image, severity: Severity, rng: Random): Image {
  const i = severity - 1;
  return lowLightWith(img, [LOW_LIGHT_PARAMS.level[i]!, LOW_LIGHT_PARAMS.photons[i]!, LOW_LIGHT_PARAMS.readNoise[i]!], rng);
}

/** The low light for one (level, photons at full scale, read noise σ) tuple. */
export function lowLightWith(img: Image, [level, photons, sd]: readonly number[], rng: Random): Image {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of img.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const span = hi - lo || 1;
  const data = new Float32Array(img.data.length);
  for (let k = 0; k < data.length; k++) {
    const t = (img.data[k]! - lo) / span;
    const dark = t * t * level;
    const shot = Math.min(1, rng.poisson(dark * photons) / photons);
    data[k] = shot + rng.normal(0, sd);
  }
  return { ...img, data: clamp01(data) };
}

/** Gamma-darkening parameters at a strength: γ 2 (light) to 5 (heavy), Gaussian noise up to σ .01 → .05. */
export function gammaDarkParams(strength: number): { gamma: number; scale: [number, number]; sigma: [number, number] } {
  return { gamma: linear(2, 5, strength), scale: [0.6, 1], sigma: [0.002, linear(0.01, 0.05, strength)] };
}

/**
 * Low light as image-enhancement data sets synthesise it from daylight photos (LLNet): display
 * values darkened by a gamma curve and a random scale, then additive Gaussian noise, 8 bits.
 */
export function gammaDark(img: Image, strength: number, rng: Random): Image {
  const p = gammaDarkParams(strength);
  const scale = rng.uniform(...p.scale);
  const sd = rng.uniform(...p.sigma);
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) {
    const v = scale * img.data[i]! ** p.gamma + rng.normal(0, sd);
    data[i] = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;
  }
  return { ...img, data };
}
