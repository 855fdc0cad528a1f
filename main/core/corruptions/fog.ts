import type { Random } from '../random.js';
import { clamp01, type Image, type Severity } from './image.js';
import { geometric } from './scale.js';

/**
 * Fog: CIFAR-10-C `fog`, x += a·plasma_fractal(wibbledecay=d); x = clip(x·max/(max+a)), with
 * CIFAR-10-C's decays d = 3, 3, 2.5, 2, 1.75 and a thinner fog a = .03, .06, .12, .2, .3 instead of
 * its .2, .5, .75, 1, 1.5 (black-background 28-pixel items are far more sensitive: the canonical fog
 * leaves the clean model at 31% from severity 1 and 23% at 3; see native-models/recipe/LOG.md). The fractal map is the next power of
 * two ≥ the image's larger side, cropped to the image.
 */
export const FOG_PARAMS = [
  [0.03, 3],
  [0.06, 3],
  [0.12, 2.5],
  [0.2, 2],
  [0.3, 1.75],
] as const;

/** ImageNet-C's diamond-square plasma fractal, normalised to 0..1 (including its wibble·U(-wibble, wibble) quirk). */
export function plasmaFractal(mapsize: number, wibbledecay: number, rng: Random): Float32Array {
  const m = new Float64Array(mapsize * mapsize);
  const at = (y: number, x: number): number => (((y % mapsize) + mapsize) % mapsize) * mapsize + (((x % mapsize) + mapsize) % mapsize);
  let step = mapsize;
  let wibble = 100;
  const wibbled = (v: number): number => v / 4 + wibble * rng.uniform(-wibble, wibble);
  while (step >= 2) {
    const half = step / 2;
    // Squares: centre of each square from its four corners.
    for (let y = 0; y < mapsize; y += step) {
      for (let x = 0; x < mapsize; x += step) {
        const s = m[at(y, x)]! + m[at(y + step, x)]! + m[at(y, x + step)]! + m[at(y + step, x + step)]!;
        m[at(y + half, x + half)] = wibbled(s);
      }
    }
    // Diamonds: the edge midpoints from the two corners and the two neighbouring centres.
    for (let y = 0; y < mapsize; y += step) {
      for (let x = 0; x < mapsize; x += step) {
        const top = m[at(y, x)]! + m[at(y, x + step)]! + m[at(y + half, x + half)]! + m[at(y - half, x + half)]!;
        m[at(y, x + half)] = wibbled(top);
        const left = m[at(y, x)]! + m[at(y + step, x)]! + m[at(y + half, x + half)]! + m[at(y + half, x - half)]!;
        m[at(y + half, x)] = wibbled(left);
      }
    }
    step = half;
    wibble /= wibbledecay;
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(m.length);
  const span = hi - lo || 1;
  for (let i = 0; i < m.length; i++) out[i] = (m[i]! - lo) / span;
  return out;
}

/** CIFAR-10-C's own fog tuples (a, wibbledecay), severities 1–5: the canonical family. */
export const FOG_PARAMS_CANONICAL = [
  [0.2, 3],
  [0.5, 3],
  [0.75, 2.5],
  [1, 2],
  [1.5, 1.75],
] as const;

export function fog(img: Image, severity: Severity, rng: Random): Image {
  return fogWith(img, FOG_PARAMS[severity - 1], rng);
}

/** The fog for one (a, wibbledecay) tuple. */
export function fogWith(img: Image, [a, decay]: readonly number[], rng: Random): Image {
  let mapsize = 2;
  while (mapsize < Math.max(img.width, img.height)) mapsize *= 2;
  const frac = plasmaFractal(mapsize, decay, rng);
  let max = 0;
  for (const v of img.data) if (v > max) max = v;
  const data = new Float32Array(img.data.length);
  const c = img.channels;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const f = a * frac[y * mapsize + x]!;
      for (let k = 0; k < c; k++) {
        const i = (y * img.width + x) * c + k;
        data[i] = ((img.data[i]! + f) * max) / (max + a);
      }
    }
  }
  return { ...img, data: clamp01(data) };
}

/** Display-space haze at a strength: mean transmission 0.8 (light haze) to 0.12 (dense fog). */
export function hazeDisplayParams(strength: number): { transmission: number; airlight: [number, number]; uniformShare: number; depth: [number, number] } {
  return { transmission: geometric(0.8, 0.12, strength), airlight: [0.7, 1], uniformShare: 0.4, depth: [0.5, 1.5] };
}

/**
 * Haze as dehazing data sets synthesise it (RESIDE): the scattering model I = J·t + A·(1−t) applied
 * to display values, not linear light, with t = exp(−β·d): a homogeneous veil (d = 1) for part of
 * the images, otherwise depth growing linearly across the frame in a random direction over
 * `depth`; β set so the mean transmission is the strength's; a bright airlight, slightly tinted in
 * colour images.
 */
export function hazeDisplay(img: Image, strength: number, rng: Random): Image {
  const p = hazeDisplayParams(strength);
  const { width: w, height: h, channels: c } = img;
  const beta = -Math.log(p.transmission);
  const uniform = rng.next() < p.uniformShare;
  const angle = rng.uniform(0, 2 * Math.PI);
  const [d0, d1] = p.depth;
  const a = rng.uniform(...p.airlight);
  const tint = Array.from({ length: c }, () => Math.min(1, a + (c === 3 ? rng.uniform(-0.04, 0.04) : 0)));
  const data = new Float32Array(img.data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Projection on the gradient's direction, 0..1 over the frame.
      const u = 0.5 + (((x + 0.5) / w - 0.5) * Math.cos(angle) + ((y + 0.5) / h - 0.5) * Math.sin(angle)) / Math.SQRT2;
      const t = Math.exp(-beta * (uniform ? 1 : d0 + (d1 - d0) * u));
      for (let k = 0; k < c; k++) {
        const i = (y * w + x) * c + k;
        data[i] = img.data[i]! * t + tint[k]! * (1 - t);
      }
    }
  }
  return { ...img, data: clamp01(data) };
}
