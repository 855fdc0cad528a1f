/**
 * Writes the recipe's corrupted data with the app's own generator families (main/core/corruptions),
 * as raw uint8 files of N×28×28 images that train.py reads, each with its labels beside it.
 *
 *   node dist/native-models/recipe/gen-data.js --out DIR [--fashion DIR] [--train N] [--test N] [--only fashion|digits] [--families c@f,...]
 *
 * Per condition and family (`<c>@<f>`, every family of every condition, compound ones included):
 * - `train-<c>@<f>.u8` (+ `.labels`, `.strength`): N training images, family k of the condition
 *   starting at image k·N (so families see different items), each at a strength drawn uniformly in
 *   1–5, seeds from stream 1;
 * - `test-<c>@<f>-s<k>.u8`: the first N test images at strength k = 1…5, seeds from stream 2 (unseen),
 *   labels in `test.labels`.
 * `families.json` lists every condition's families and lineages for run.sh and evaluate.py.
 * The transfer sets (`digitstrain` / `digitstest`, written by train.py's digits stage) get each single
 * condition's default family: cycling strengths 1–5 for training, one file per strength for testing.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CONDITIONS, corrupt, familiesOf, type Image } from '../../main/core/corruptions/index.js';
import { applyDraw, drawCondition } from '../../main/core/corruptions/mixture.js';
import { createRandom, mixSeed } from '../../main/core/random.js';
import { readIdx } from '../../main/engine/io/idx.js';

const SIZE = 28 * 28;

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
}

function toImage(images: Uint8Array, i: number): Image {
  const f = new Float32Array(SIZE);
  for (let k = 0; k < SIZE; k++) f[k] = images[i * SIZE + k]! / 255;
  return { width: 28, height: 28, channels: 1, data: f };
}

function put(out: Uint8Array, i: number, img: Image): void {
  for (let k = 0; k < SIZE; k++) out[i * SIZE + k] = Math.round(img.data[k]! * 255);
}

/** Training set of one family: images from `offset` (wrapping), strengths drawn in 1–5. */
function familyTrainSet(x: Uint8Array, y: Uint8Array, condition: string, family: string, n: number, offset: number): { images: Uint8Array; labels: Uint8Array; strengths: Float32Array } {
  const total = y.length;
  const images = new Uint8Array(n * SIZE);
  const labels = new Uint8Array(n);
  const strengths = new Float32Array(n);
  const cid = CONDITIONS.findIndex((c) => c.id === condition);
  const fid = familiesOf(condition).findIndex((f) => f.id === family);
  for (let j = 0; j < n; j++) {
    const i = (offset + j) % total;
    const draw = drawCondition(condition, createRandom(mixSeed(1, cid, fid, j)), { only: [family] });
    put(images, j, applyDraw(toImage(x, i), draw));
    labels[j] = y[i]!;
    strengths[j] = draw.strength;
  }
  return { images, labels, strengths };
}

/** Test set of one family at one strength: the first images, seeds from stream 2. */
function familyTestSet(x: Uint8Array, condition: string, family: string, strength: number): Uint8Array {
  const n = x.length / SIZE;
  const out = new Uint8Array(x.length);
  const cid = CONDITIONS.findIndex((c) => c.id === condition);
  const fid = familiesOf(condition).findIndex((f) => f.id === family);
  for (let i = 0; i < n; i++) put(out, i, corrupt(toImage(x, i), `${condition}/${family}`, strength, mixSeed(2, cid, fid, i)));
  return out;
}

async function writeFamilies(dir: string, trX: Uint8Array, trY: Uint8Array, teX: Uint8Array, nTrain: number, only: Set<string> | undefined): Promise<void> {
  const index = Object.fromEntries(CONDITIONS.map((c) => [c.id, familiesOf(c.id).map((f) => ({ id: f.id, lineage: f.lineage }))]));
  await writeFile(path.join(dir, 'families.json'), JSON.stringify(index, null, 1));
  for (const c of CONDITIONS) {
    const fams = familiesOf(c.id);
    for (const [k, f] of fams.entries()) {
      const t0 = Date.now();
      const key = `${c.id}@${f.id}`;
      if (only && !only.has(key)) continue;
      const tr = familyTrainSet(trX, trY, c.id, f.id, nTrain, k * nTrain);
      await writeFile(path.join(dir, `train-${key}.u8`), tr.images);
      await writeFile(path.join(dir, `train-${key}.labels`), tr.labels);
      await writeFile(path.join(dir, `train-${key}.strength`), new Uint8Array(tr.strengths.buffer));
      for (const s of [1, 2, 3, 4, 5]) await writeFile(path.join(dir, `test-${key}-s${s}.u8`), familyTestSet(teX, c.id, f.id, s));
      console.log(`${key}: ${nTrain} train, ${teX.length / SIZE} × 5 test images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
}

/** The transfer sets: each single condition's default family. */
async function writeDigits(dir: string, set: string, images: Uint8Array, train: boolean): Promise<void> {
  const n = images.length / SIZE;
  for (const [cid, c] of CONDITIONS.entries()) {
    if (c.parts) continue;
    const make = (strength: (i: number) => number, stream: number) => {
      const out = new Uint8Array(images.length);
      for (let i = 0; i < n; i++) put(out, i, corrupt(toImage(images, i), c.id, strength(i), mixSeed(stream, i, cid)));
      return out;
    };
    if (train) await writeFile(path.join(dir, `${set}-${c.id}.u8`), make((i) => (i % 5) + 1, 1));
    else for (const s of [1, 2, 3, 4, 5]) await writeFile(path.join(dir, `${set}-${c.id}-s${s}.u8`), make(() => s, 2));
  }
  console.log(`${set}: ${n} images`);
}

async function main(): Promise<void> {
  const out = arg('out', 'work');
  const fashion = arg('fashion', process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist');
  const nTrain = Number(arg('train', '20000'));
  const nTest = Number(arg('test', '2000'));
  const only = arg('only', '');
  if (!only || only === 'fashion') {
    const trX = (await readIdx(path.join(fashion, 'train-images-idx3-ubyte.gz'))).data;
    const trY = (await readIdx(path.join(fashion, 'train-labels-idx1-ubyte.gz'))).data;
    const teX = (await readIdx(path.join(fashion, 't10k-images-idx3-ubyte.gz'))).data.subarray(0, nTest * SIZE);
    const teY = (await readIdx(path.join(fashion, 't10k-labels-idx1-ubyte.gz'))).data.subarray(0, nTest);
    await writeFile(path.join(out, 'train.labels'), trY);
    await writeFile(path.join(out, 'train-clean.u8'), trX);
    await writeFile(path.join(out, 'test.labels'), teY);
    await writeFile(path.join(out, 'test-clean.u8'), teX);
    const families = arg('families', '');
    await writeFamilies(out, trX, trY, teX, nTrain, families ? new Set(families.split(',')) : undefined);
  }
  if (!only || only === 'digits') {
    for (const set of ['digitstrain', 'digitstest']) {
      const f = path.join(out, `${set}-clean.u8`);
      if (existsSync(f)) await writeDigits(out, set, new Uint8Array(await readFile(f)), set === 'digitstrain');
    }
  }
}

await main();
