import type { Random } from '../random.js';
import { clamp01, type Image, type Severity } from './image.js';

/**
 * Sensor noise: CIFAR-10-C `gaussian_noise`, x + N(0, σ) clipped, σ = [.04, .06, .08, .09, .10]
 * (the 32-pixel tuple; ImageNet-C's [.08 … .38] leaves a 28-pixel grey classifier near chance from
 * severity 2 on).
 */
export const NOISE_SIGMA = [0.04, 0.06, 0.08, 0.09, 0.1] as const;

export function sensorNoise(img: Image, severity: Severity, rng: Random): Image {
  return gaussianNoise(img, NOISE_SIGMA[severity - 1], rng);
}

/** x + N(0, σ), clipped. */
export function gaussianNoise(img: Image, sd: number, rng: Random): Image {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i]! + rng.normal(0, sd);
  return { ...img, data: clamp01(data) };
}

/** CIFAR-10-C `shot_noise`: photons at full scale per severity. */
export const SHOT_PHOTONS = [500, 250, 100, 75, 50] as const;

/** Poisson(x·c)/c on display values, clipped (ImageNet-C's shot noise). */
export function shotNoise(img: Image, photons: number, rng: Random): Image {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = rng.poisson(img.data[i]! * photons) / photons;
  return { ...img, data: clamp01(data) };
}
