import type { Random } from '../random.js';
import { clamp01, type Image, type Severity } from './image.js';

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
