import type { Random } from '../random.js';
import { boxBlurPlane, clamp01, fromPlanes, planes, sampleBilinear, type Image, type Severity } from './image.js';
import { linear } from './scale.js';

/**
 * Rain: albumentations `RandomRain`: slanted streaks of drop colour (200,200,200) drawn from
 * (x, y) to (x + slant, y + length), a box blur, then lightness × brightness coefficient. Its
 * defaults (one drop per 600 px, 20-pixel drops, 7-pixel blur) are for photos; here the drop count
 * is per 100 px and lengths are shares of the image height so that 28-pixel and 1080-pixel frames
 * rain alike. Per severity: drops per 100 px, length / height, blur / height, brightness, |slant| max.
 */
export const RAIN_PARAMS = [
  [0.5, 0.15, 0, 0.9, 0.2],
  [0.8, 0.2, 0, 0.85, 0.25],
  [1.2, 0.25, 0, 0.8, 0.3],
  [1.6, 0.3, 0.1, 0.7, 0.35],
  [2.2, 0.35, 0.1, 0.6, 0.4],
] as const;

const DROP = 200 / 255;

export function rain(img: Image, severity: Severity, rng: Random): Image {
  return rainWith(img, RAIN_PARAMS[severity - 1], rng);
}

/** The rain for one (drops per 100 px, length / height, blur / height, brightness, |slant| max) tuple. */
export function rainWith(img: Image, [density, lengthShare, blurShare, brightness, slantMax]: readonly number[], rng: Random): Image {
  const { width: w, height: h } = img;
  const length = Math.max(2, Math.round(lengthShare * h));
  const dropWidth = Math.max(1, Math.round(h / 256));
  // One slant for the whole frame, as albumentations draws it.
  const slant = Math.round(rng.uniform(-slantMax, slantMax) * length);
  const drops = Math.round((density * w * h) / 100);
  const mask = new Uint8Array(w * h);
  for (let d = 0; d < drops; d++) {
    const x0 = slant < 0 ? rng.int(w - slant) : rng.int(w + slant) - slant;
    const y0 = rng.int(h) - Math.floor(length / 2);
    const steps = Math.max(Math.abs(slant), length);
    for (let t = 0; t <= steps; t++) {
      const cx = Math.round(x0 + (slant * t) / steps);
      const cy = Math.round(y0 + (length * t) / steps);
      for (let dx = 0; dx < dropWidth; dx++) {
        const px = cx + dx;
        if (px >= 0 && px < w && cy >= 0 && cy < h) mask[cy * w + px] = 1;
      }
    }
  }
  let blur = Math.round(blurShare * h);
  if (blur > 1 && blur % 2 === 0) blur += 1;
  const out = planes(img).map((p) => {
    const q = Float32Array.from(p);
    for (let i = 0; i < q.length; i++) if (mask[i]) q[i] = DROP;
    const b = boxBlurPlane(q, w, h, blur);
    // Scaling every channel scales HLS lightness and keeps the hue.
    for (let i = 0; i < b.length; i++) b[i] = b[i]! * brightness;
    return b;
  });
  const res = fromPlanes(img, out);
  clamp01(res.data);
  return res;
}

/**
 * Rain-layer parameters at a strength: streak seeds per pixel .004 → .03, streak length 15–30% →
 * 30–60% of the height, and the transmission of the accumulated rain 0.95 → 0.6.
 */
export function rainLayerParams(strength: number): { seedShare: number; length: [number, number]; angle: number; brightness: [number, number]; dimming: [number, number]; veil: number; airlight: [number, number] } {
  return {
    seedShare: linear(0.004, 0.03, strength),
    length: [linear(0.15, 0.3, strength), linear(0.3, 0.6, strength)],
    angle: 25,
    brightness: [0.35, 0.9],
    dimming: [0.7, 1],
    veil: linear(0.95, 0.6, strength),
    airlight: [0.6, 0.95],
  };
}

/**
 * Rain as de-raining data sets synthesise it (Yang et al.'s rain model, O = α·(B + S) + (1 − α)·A,
 * as Rain100L/H make it): sparse random seeds smeared into streaks along one direction for the frame
 * (a line integral over the streak length), laid over the dimmed scene with a screen blend, then
 * the veil of accumulated rain, all in display values.
 */
export function rainLayer(img: Image, strength: number, rng: Random): Image {
  const p = rainLayerParams(strength);
  const { width: w, height: h, channels: c } = img;
  const seeds = new Float32Array(w * h);
  for (let i = 0; i < seeds.length; i++) if (rng.next() < p.seedShare) seeds[i] = rng.uniform(...p.brightness);
  const angle = (rng.uniform(-p.angle, p.angle) * Math.PI) / 180;
  const len = Math.max(2, rng.uniform(...p.length) * h);
  const dx = Math.sin(angle);
  const dy = Math.cos(angle);
  const steps = Math.ceil(len);
  const streaks = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let k = 0; k < steps; k++) {
        const sx = x - k * dx;
        const sy = y - k * dy;
        if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) break;
        s += sampleBilinear(seeds, w, h, sx, sy);
      }
      streaks[y * w + x] = Math.min(1, s);
    }
  }
  const dim = rng.uniform(...p.dimming);
  const a = rng.uniform(...p.airlight);
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < w * h; i++) {
    const r = streaks[i]!;
    for (let k = 0; k < c; k++) data[i * c + k] = p.veil * (1 - (1 - dim * img.data[i * c + k]!) * (1 - r)) + (1 - p.veil) * a;
  }
  return { ...img, data: clamp01(data) };
}
