import type { Random } from '../random.js';
import { clamp01, clippedZoom, luma, motionBlurPlane, type Image, type Severity } from './image.js';

/**
 * Snow: CIFAR-10-C `snow`, tuples (loc, scale, zoom, threshold, blur radius, blur σ, blend): a
 * N(loc, scale) layer, clipped-zoomed, thresholded, motion-blurred at U(-135°, -45°), added twice
 * (and rotated 180°) over an image whitened as blend·x + (1−blend)·max(x, 1.5·grey + 0.5). Blur sizes
 * scale with the image's smaller side / 32. Severity 5 is CIFAR-10-C's 2; 1–4 are its severity 1
 * with thresholds .65, .6, .56, .53 (the canonical 2–5 leave a 28-pixel grey classifier at 22–32%,
 * near chance; see native-models/recipe/LOG.md).
 */
export const SNOW_PARAMS = [
  [0.1, 0.2, 1, 0.65, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.56, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.53, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
] as const;

/** CIFAR-10-C's own snow tuples, severities 1–5: the canonical family. */
export const SNOW_PARAMS_CANONICAL = [
  [0.1, 0.2, 1, 0.6, 8, 3, 0.95],
  [0.1, 0.2, 1, 0.5, 10, 4, 0.9],
  [0.15, 0.3, 1.75, 0.55, 10, 4, 0.9],
  [0.25, 0.3, 2.25, 0.6, 12, 6, 0.85],
  [0.3, 0.3, 1.25, 0.65, 14, 12, 0.8],
] as const;

export function snow(img: Image, severity: Severity, rng: Random): Image {
  return snowWith(img, SNOW_PARAMS[severity - 1], rng);
}

/** The snow for one (loc, scale, zoom, threshold, blur radius, blur σ, blend) tuple. */
export function snowWith(img: Image, [loc, scale, zoom, threshold, radius, sigma, blend]: readonly number[], rng: Random): Image {
  const { width: w, height: h, channels: c } = img;
  const n = w * h;
  let layer: Float32Array = new Float32Array(n);
  for (let i = 0; i < n; i++) layer[i] = rng.normal(loc, scale);
  layer = clippedZoom(layer, w, h, zoom);
  for (let i = 0; i < n; i++) {
    const v = layer[i]! < threshold ? 0 : layer[i]!;
    // The reference goes through an 8-bit PIL image here: clip to 0..1 and quantise.
    layer[i] = Math.round(Math.min(1, Math.max(0, v)) * 255) / 255;
  }
  const s = Math.max(1, Math.min(w, h) / 32);
  layer = motionBlurPlane(layer, w, h, radius * s, sigma * s, rng.uniform(-135, -45));
  const grey = luma(img);
  const data = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      const flakes = layer[p]! + layer[(h - 1 - y) * w + (w - 1 - x)]!;
      const whitened = 1.5 * grey[p]! + 0.5;
      for (let k = 0; k < c; k++) {
        const v = img.data[p * c + k]!;
        data[p * c + k] = blend * v + (1 - blend) * Math.max(v, whitened) + flakes;
      }
    }
  }
  return { ...img, data: clamp01(data) };
}
