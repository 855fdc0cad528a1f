import type { Random } from '../random.js';
import { clamp01, clippedZoom, luma, motionBlurPlane, type Image, type Severity } from './image.js';
import { linear } from './scale.js';

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

/**
 * Flake-layer parameters at a strength: flakes per pixel .005 → .03 (nearest layer), flake radius,
 * fall smear 5% → 20% of the height, and the scene lifted towards white by 0.05 → 0.5.
 */
export function flakeLayerParams(strength: number): { density: number; radius: [number, number]; smearShare: number; whiten: number; angle: number } {
  return { density: linear(0.005, 0.03, strength), radius: [linear(0.5, 0.8, strength), linear(1, 1.8, strength)], smearShare: linear(0.05, 0.2, strength), whiten: linear(0.05, 0.5, strength), angle: 30 };
}

/**
 * Snow as augmentation libraries make it (imgaug's Snowflakes): three layers of soft flakes, far to
 * near (fewer, larger and more opaque as they come closer), each smeared along the fall direction and
 * alpha-blended in white over a scene lifted towards white, in display values.
 */
export function flakeLayer(img: Image, strength: number, rng: Random): Image {
  const p = flakeLayerParams(strength);
  const { width: w, height: h, channels: c } = img;
  const scale = Math.max(1, Math.min(w, h) / 32);
  const fall = rng.uniform(-p.angle, p.angle);
  const out = Float32Array.from(img.data, (v) => v + p.whiten * (1 - v));
  for (const [share, size, opacity] of [[1, 0.6, 0.5], [0.6, 1, 0.75], [0.3, 1.6, 1]] as const) {
    const layer = new Float32Array(w * h);
    const count = Math.round(p.density * share * w * h);
    for (let f = 0; f < count; f++) {
      const r = rng.uniform(...p.radius) * size * scale;
      const cx = rng.uniform(0, w);
      const cy = rng.uniform(0, h);
      const reach = Math.ceil(2 * r);
      for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(h, cy + reach); y++) {
        for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(w, cx + reach); x++) {
          const d2 = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2;
          layer[y * w + x] = Math.max(layer[y * w + x]!, Math.exp(-d2 / (2 * r * r)));
        }
      }
    }
    const smear = p.smearShare * h * size;
    // ImageMagick's kernel points along its angle; 90° is straight down.
    const blurred = smear >= 1 ? motionBlurPlane(layer, w, h, smear, smear / 2, 90 + fall) : layer;
    for (let i = 0; i < w * h; i++) {
      const a = Math.min(1, opacity * blurred[i]! * (smear >= 1 ? 2 : 1));
      for (let k = 0; k < c; k++) out[i * c + k] = out[i * c + k]! * (1 - a) + a;
    }
  }
  return { ...img, data: clamp01(out) };
}
