/**
 * Writes the recipe's corrupted data with the app's own corruptions (main/core/corruptions), as raw
 * uint8 files of N×28×28 images that train.py reads: `<set>-<condition>.u8` with `<set>.labels`.
 *
 *   node dist/native-models/recipe/gen-data.js --out DIR [--fashion DIR] [--train N] [--test N]
 *
 * Training sets cycle severities 1–5 over the images (image i gets severity i mod 5 + 1) with seeds
 * from stream 1; test sets hold every severity in its own file with seeds from stream 2 (unseen seeds).
 * `digitstrain` / `digitstest` (written by train.py's digits stage) get the same treatment.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CONDITIONS, corrupt, type Image, type Severity } from '../../main/core/corruptions/index.js';
import { mixSeed } from '../../main/core/random.js';
import { readIdx } from '../../main/engine/io/idx.js';

const SIZE = 28 * 28;
/** The pair for composition, in the order applied: night first, then fog over it ("Foggy night"). */
export const PAIR = ['low-light', 'fog'] as const;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

function corruptSet(images: Uint8Array, conditions: readonly string[], severityOf: (i: number) => Severity, stream: number): Uint8Array {
  const n = images.length / SIZE;
  const out = new Uint8Array(images.length);
  const f = new Float32Array(SIZE);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < SIZE; k++) f[k] = images[i * SIZE + k]! / 255;
    let img: Image = { width: 28, height: 28, channels: 1, data: f };
    conditions.forEach((c, j) => {
      img = corrupt(img, c, severityOf(i), mixSeed(stream, i, j));
    });
    for (let k = 0; k < SIZE; k++) out[i * SIZE + k] = Math.round(img.data[k]! * 255);
  }
  return out;
}

async function writeSet(dir: string, set: string, images: Uint8Array, full: boolean): Promise<void> {
  const t0 = Date.now();
  const sets: [string, readonly string[]][] = [...CONDITIONS.map((c) => [c.id, [c.id]] as [string, string[]]), [PAIR.join('+'), PAIR]];
  for (const [name, conds] of sets) {
    if (full) {
      await writeFile(path.join(dir, `${set}-${name}.u8`), corruptSet(images, conds, (i) => ((i % 5) + 1) as Severity, 1));
      continue;
    }
    for (const s of [1, 2, 3, 4, 5] as Severity[]) {
      await writeFile(path.join(dir, `${set}-${name}-s${s}.u8`), corruptSet(images, conds, () => s, 2));
    }
  }
  console.log(`${set}: ${images.length / SIZE} images × ${sets.length} conditions in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const out = arg('out', 'work');
  const fashion = arg('fashion', process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
  const nTrain = Number(arg('train', '0'));
  const nTest = Number(arg('test', '0'));
  const take = (a: Uint8Array, n: number, per: number): Uint8Array => (n > 0 ? a.subarray(0, n * per) : a);
  const trX = take((await readIdx(path.join(fashion, 'train-images-idx3-ubyte.gz'))).data, nTrain, SIZE);
  const trY = take((await readIdx(path.join(fashion, 'train-labels-idx1-ubyte.gz'))).data, nTrain, 1);
  const teX = take((await readIdx(path.join(fashion, 't10k-images-idx3-ubyte.gz'))).data, nTest, SIZE);
  const teY = take((await readIdx(path.join(fashion, 't10k-labels-idx1-ubyte.gz'))).data, nTest, 1);
  await writeFile(path.join(out, 'train.labels'), trY);
  await writeFile(path.join(out, 'test.labels'), teY);
  await writeFile(path.join(out, 'train-clean.u8'), trX);
  await writeFile(path.join(out, 'test-clean.u8'), teX);
  const only = arg('only', '');
  if (!only || only === 'fashion') {
    await writeSet(out, 'train', trX, true);
    await writeSet(out, 'test', teX, false);
  }
  for (const set of ['digitstrain', 'digitstest']) {
    const f = path.join(out, `${set}-clean.u8`);
    if ((!only || only === 'digits') && existsSync(f)) await writeSet(out, set, new Uint8Array(await readFile(f)), set === 'digitstrain');
  }
}

await main();
