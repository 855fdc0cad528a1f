/**
 * Camera nuisances over a training set (main/core/corruptions/nuisance.ts: a little blur, exposure
 * gain, a tone curve, a faint veil, sensor noise). A signature trained on its condition's generators
 * alone learns their details as well as the condition; with nuisances on half of its training images
 * it has to learn the condition. Measured on low light (LOG.md): the signature trained without the
 * physical family hurt on it (real sensor noise after gain), and did not with nuisances.
 *
 *   node dist/native-models/recipe/nuisance.js SRC.u8 DST.u8
 *
 * Writes DST with the images of SRC (N×28×28 uint8), half of them (drawn per image, seeded by its
 * index) with nuisances; labels and strengths are those of SRC (run.sh copies them beside DST).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Image } from '../../main/core/corruptions/image.js';
import { applyNuisance, drawNuisance, NUISANCE_SHARE } from '../../main/core/corruptions/nuisance.js';
import { createRandom, mixSeed } from '../../main/core/random.js';

const SIZE = 28 * 28;

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
