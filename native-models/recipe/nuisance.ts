/**
 * Camera nuisances over a training set: how a camera and a generator may render a condition
 * differently, apart from the condition itself (a little blur, exposure gain, a tone curve, a faint
 * veil, sensor noise). A signature trained on its condition's generators alone learns their details
 * as well as the condition; with nuisances on half of its training images it has to learn the
 * condition. Measured on low light (LOG.md): the signature trained without the physical family hurt
 * on it (real sensor noise after gain), and did not with nuisances.
 *
 *   node dist/native-models/recipe/nuisance.js SRC.u8 DST.u8
 *
 * Writes DST with the images of SRC (N×28×28 uint8), half of them (drawn per image, seeded by its
 * index) with nuisances; labels and strengths are those of SRC (run.sh copies them beside DST).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { fromPlanes, gaussianBlurPlane, planes, type Image } from '../../main/core/corruptions/image.js';
import { createRandom, mixSeed, type Random } from '../../main/core/random.js';

const SIZE = 28 * 28;
/** Share of the images that get nuisances. */
export const NUISANCE_SHARE = 0.5;

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

export function drawNuisance(rng: Random): Nuisance {
  const maybe = (p: number, lo: number, hi: number, none: number) => (rng.next() < p ? rng.uniform(lo, hi) : none);
  return {
    blur: maybe(0.4, 0.3, 1.2, 0),
    gain: maybe(0.5, 0.65, 1.15, 1),
    gamma: maybe(0.4, 0.75, 1.35, 1),
    veil: maybe(0.3, 0.75, 0.98, 1),
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

/** The images of `src` (N×28×28), a `NUISANCE_SHARE` of them with nuisances. */
export function withNuisances(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let j = 0; j < src.length / SIZE; j++) {
    const rng = createRandom(mixSeed(77, j));
    let img: Image = { width: 28, height: 28, channels: 1, data: Float32Array.from(src.subarray(j * SIZE, (j + 1) * SIZE), (v) => v / 255) };
    if (rng.next() < NUISANCE_SHARE) img = applyNuisance(img, drawNuisance(rng), rng);
    for (let k = 0; k < SIZE; k++) out[j * SIZE + k] = Math.round(img.data[k]! * 255);
  }
  return out;
}

if (process.argv[1]?.endsWith('nuisance.js')) {
  const [src, dst] = process.argv.slice(2);
  if (!src || !dst) throw new Error('usage: nuisance.js SRC.u8 DST.u8');
  await writeFile(`${dst}.tmp`, withNuisances(new Uint8Array(await readFile(src))));
  await rename(`${dst}.tmp`, dst);
}
