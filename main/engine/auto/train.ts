// Training the auto condition classifier on Fashion-MNIST images corrupted by the app's own
// corruptions (main/core/corruptions), and writing it into a pack's pack.json as `autoMix`.
//
//   node dist/main/engine/auto/train.js --pack native-models/fashion-mnist [--fashion DIR] [--per-class N] [--alpha]
//
// `--alpha` also measures the best strength per condition and severity with the pack's model and
// signatures (`autoMix.alpha`); without it auto uses each condition's mix at strength 1.
//
// The recipe (native-models/recipe) calls this after training the model and its signatures.
import { batchDims, countCorrect, unitToBytes } from '../../core/tensors.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainClassifier, estimate, type ConditionClass, type ConditionClassifier, type TrainOptions } from '../../core/auto-classifier.js';
import { conditionFeatures, FEATURES_VERSION } from '../../core/condition-features.js';
import { CONDITIONS, type Image } from '../../core/corruptions/index.js';
import { applyDraw, drawCondition } from '../../core/corruptions/mixture.js';
import { createRandom, mixSeed } from '../../core/random.js';
import { RwsError } from '../../core/errors.js';
import { AutoMix } from './mix.js';
import type { MixRunner } from './choice.js';
import { fashionMnistDir, readIdx } from '../io/idx.js';
import { toTensor } from '../io/image-decode.js';
import { loadOnnx } from '../onnx/model.js';
import { loadPack, parsePackManifest, type PackManifest } from '../packs/pack.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { AutoMixSpec } from './schema.js';
import { loadSignatures, Patcher } from '../runtime/patcher.js';

/** Images of an idx set as grey Images (values 0..1): `count` of them from index `from` (negative: from the end). */
export async function readFashionImages(dir: string, set: 'train' | 't10k', count: number, from = 0): Promise<{ images: Image[]; labels: Uint8Array }> {
  const x = await readIdx(path.join(dir, `${set}-images-idx3-ubyte.gz`));
  const y = await readIdx(path.join(dir, `${set}-labels-idx1-ubyte.gz`));
  const [n, h, w] = x.dims as [number, number, number];
  const start = Math.max(0, from < 0 ? n + from : from);
  const end = Math.min(n, start + count);
  const images: Image[] = [];
  for (let i = start; i < end; i++) {
    const data = new Float32Array(h * w);
    for (let k = 0; k < h * w; k++) data[k] = x.data[i * h * w + k]! / 255;
    images.push({ width: w, height: h, channels: 1, data });
  }
  return { images, labels: y.data.subarray(start, end) };
}

/** The classes: `clean`, then every condition at severities 1–5. */
export function defaultClasses(conditions: readonly string[] = CONDITIONS.map((c) => c.id)): ConditionClass[] {
  const out: ConditionClass[] = [{ condition: 'clean', severity: 0 }];
  for (const c of conditions) for (let s = 1; s <= 5; s++) out.push({ condition: c, severity: s });
  return out;
}

/**
 * Corrupted feature vectors: each class applied to images drawn in turn from `images`, each image
 * by a family drawn from the condition's mixture (`exclude` leaves lineages out) at a strength
 * within half a step of the class's severity.
 */
export function conditionSet(
  images: ImageList,
  classes: readonly ConditionClass[],
  perClass: number,
  stream: number,
  cleanShare = 1,
  exclude: readonly string[] = [],
  onProgress?: (done: number, total: number) => void,
): { xs: Float32Array[]; ys: number[] } {
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  const get = 'get' in images ? (i: number) => images.get(i) : (i: number) => (images as readonly Image[])[i]!;
  const total = classes.reduce((s, cl) => s + (cl.condition === 'clean' ? Math.round(perClass * cleanShare) : perClass), 0);
  let next = 0;
  classes.forEach((cl, k) => {
    const count = cl.condition === 'clean' ? Math.round(perClass * cleanShare) : perClass;
    const strength = [Math.max(1, cl.severity - 0.5), Math.min(5, cl.severity + 0.5)] as const;
    for (let i = 0; i < count; i++) {
      const img = get(next++ % images.length);
      onProgress?.(xs.length + 1, total);
      const seen = cl.condition === 'clean' ? img : applyDraw(img, drawCondition(cl.condition, createRandom(mixSeed(stream, k, i)), { exclude, strength }));
      xs.push(conditionFeatures(seen));
      ys.push(k);
    }
  });
  return { xs, ys };
}

/** Images for `conditionSet`: an array, or a count and a getter (images made one at a time, not all held as floats). */
export type ImageList = readonly Image[] | { readonly length: number; get(i: number): Image };

/** Options of `trainAutoClassifier`. */
export interface AutoTrainOptions extends TrainOptions {
  fashionDir?: string;
  /** Training images per (condition, severity) class. */
  perClass?: number;
  /** The clean class gets this many times `perClass` (it is the default, so it is seen more). */
  cleanShare?: number;
  conditions?: readonly string[];
  /** Family lineages left out of training (leave-one-family-out). */
  exclude?: readonly string[];
}

/** Trains the classifier on Fashion-MNIST training images corrupted by every family of every condition (seeds of stream 11). */
export async function trainAutoClassifier(opts: AutoTrainOptions = {}): Promise<ConditionClassifier> {
  const { images } = await readFashionImages(opts.fashionDir ?? fashionMnistDir(), 'train', Math.max(2000, (opts.perClass ?? 500) * 4));
  return trainClassifierOn(images, opts);
}

/**
 * Trains the classifier on `images` (a pack's own images, `rws train --auto`) corrupted by every
 * family of every condition, `perClass` per (condition, severity) (seeds of stream 11).
 */
export function trainClassifierOn(images: ImageList, opts: AutoTrainOptions & { onProgress?: (done: number, total: number) => void } = {}): ConditionClassifier {
  const classes = defaultClasses(opts.conditions);
  const { xs, ys } = conditionSet(images, classes, opts.perClass ?? 500, 11, opts.cleanShare ?? 5, opts.exclude, opts.onProgress);
  return trainClassifier(xs, ys, classes, FEATURES_VERSION, opts);
}

/** Share of test images (stream 12, t10k) whose condition the classifier gets right, per condition, plus a confusion table. */
export async function scoreAutoClassifier(
  c: ConditionClassifier,
  opts: { fashionDir?: string; perClass?: number; severities?: number[] } = {},
): Promise<{ accuracy: Record<string, number>; confusion: Record<string, Record<string, number>> }> {
  const { images } = await readFashionImages(opts.fashionDir ?? fashionMnistDir(), 't10k', 2000);
  return scoreClassifierOn(c, images, opts);
}

/** Share of `images` (corrupted with seeds of stream 12) whose condition the classifier gets right, per condition, plus a confusion table. */
export function scoreClassifierOn(
  c: ConditionClassifier,
  images: ImageList,
  opts: { perClass?: number; severities?: number[] } = {},
): { accuracy: Record<string, number>; confusion: Record<string, Record<string, number>> } {
  const perClass = opts.perClass ?? 200;
  const classes = c.classes.filter((cl) => cl.condition === 'clean' || !opts.severities || opts.severities.includes(cl.severity));
  const { xs, ys } = conditionSet(images, classes, perClass, 12);
  const confusion: Record<string, Record<string, number>> = {};
  const hits: Record<string, [number, number]> = {};
  xs.forEach((x, i) => {
    const truth = classes[ys[i]!]!.condition;
    const est = estimate(c, [x]);
    let best = 'clean';
    let bp = -1;
    for (const [id, p] of est.conditions) if (p > bp) [best, bp] = [id, p];
    confusion[truth] ??= {};
    confusion[truth]![best] = (confusion[truth]![best] ?? 0) + 1;
    hits[truth] ??= [0, 0];
    hits[truth]![1]++;
    if (best === truth) hits[truth]![0]++;
  });
  const accuracy: Record<string, number> = {};
  for (const [id, [h, t]] of Object.entries(hits)) accuracy[id] = h / t;
  return { accuracy, confusion };
}

/** Options of `fitAlpha`. */
export interface AlphaFitOptions {
  alphas?: number[];
  /** Images per (condition, severity). */
  images?: number;
  /** Accuracy gain an α other than 1 needs per unit of |α − 1| to be chosen (default 0.01: 0.25 pp for α = 0.75). */
  penalty?: number;
  batch?: number;
}

/**
 * The strength that gives the best accuracy for each condition at each severity 1–5 (an α away
 * from 1 must win by `penalty` per unit of |α − 1|: small gains are noise), measured with the condition's mix on corrupted training images
 * the classifier and the signatures were not scored on (seeds of stream 13).
 */
export async function fitAlpha(runner: MixRunner, manifest: PackManifest, auto: AutoMix, images: readonly Image[], labels: ArrayLike<number>, opts: AlphaFitOptions = {}): Promise<Record<string, number[]>> {
  const alphas = opts.alphas ?? [0.5, 0.75, 1, 1.25, 1.5];
  const n = Math.min(images.length, opts.images ?? 1000);
  const penalty = opts.penalty ?? 0.01;
  const batch = opts.batch ?? 100;
  const spec = manifest.input;
  const per = spec.width * spec.height * spec.channels;
  const classes = manifest.labels.length;
  const known = new Set(CONDITIONS.map((c) => c.id));
  const out: Record<string, number[]> = {};
  for (const cand of auto.candidates.filter((c) => c.condition !== undefined && known.has(c.condition))) {
    const condition = cand.condition!;
    const row: number[] = [];
    for (let sev = 1; sev <= 5; sev++) {
      const input = new Float32Array(n * per);
      for (let i = 0; i < n; i++) {
        const im = applyDraw(images[i]!, drawCondition(condition, createRandom(mixSeed(13, sev, i)), { strength: [Math.max(1, sev - 0.5), Math.min(5, sev + 0.5)] }));
        input.set(toTensor(unitToBytes(im.data), im.channels, spec), i * per);
      }
      let best = 1;
      let bestScore = -Infinity;
      for (const a of alphas) {
        await runner.setMix(Object.fromEntries(Object.entries(cand.mix).map(([k, v]) => [k, v * a])));
        let right = 0;
        for (let start = 0; start < n; start += batch) {
          const m = Math.min(batch, n - start);
          const logits = await runner.run(input.slice(start * per, (start + m) * per), batchDims(spec, m));
          right += countCorrect(logits, labels, classes, start);
        }
        const score = right / n - penalty * Math.abs(a - 1);
        if (score > bestScore) [best, bestScore] = [a, score];
      }
      row.push(best);
    }
    out[condition] = row;
  }
  await runner.setMix({});
  return out;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const pack = arg('pack');
  const t0 = Date.now();
  const c = await trainAutoClassifier({ fashionDir: arg('fashion'), perClass: arg('per-class') ? Number(arg('per-class')) : undefined, epochs: arg('epochs') ? Number(arg('epochs')) : undefined });
  console.error(`auto classifier: ${c.classes.length} classes × ${c.mean.length} features trained in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const score = await scoreAutoClassifier(c, { fashionDir: arg('fashion') });
  console.error(`condition recognised on t10k (unseen seeds): ${Object.entries(score.accuracy).map(([k, v]) => `${k} ${(100 * v).toFixed(1)}%`).join(', ')}`);
  if (!pack) {
    process.stdout.write(JSON.stringify({ classifier: c }) + '\n');
    return;
  }
  const file = path.join(pack, 'pack.json');
  const autoMix: AutoMixSpec = { classifier: c };
  if (process.argv.includes('--alpha')) {
    // Strength per severity, measured with the pack's own model and signatures.
    const loaded = await loadPack(pack);
    const auto = AutoMix.fromPack({ ...loaded.manifest, autoMix: { classifier: c } }, { available: [...loaded.signatureFiles.keys()] }, file);
    const patcher = await Patcher.create(await loadOnnx(loaded.modelPath), await loadSignatures(loaded.signatureFiles), { force: loaded.manifest.signatures.filter((x) => x.transfer).map((x) => x.id) });
    try {
      // The last images of the training set: the classifier above was trained on the first ones.
      const { images, labels } = await readFashionImages(arg('fashion') ?? fashionMnistDir(), 'train', 2000, -2000);
      const alpha = await fitAlpha(patcher, loaded.manifest, auto, images, labels);
      autoMix.alpha = alpha;
      console.error(`α per severity: ${Object.entries(alpha).map(([k, v]) => `${k} ${v.join('/')}`).join(', ')}`);
    } finally {
      await patcher.dispose();
    }
  }
  await writePackAutoMix(pack, autoMix);
  console.error(`wrote autoMix.classifier into ${file}`);
}

/** Sets fields of a pack's `autoMix` (the rest of pack.json kept as it is), checked and written atomically. */
export async function writePackAutoMix(packDir: string, fields: AutoMixSpec): Promise<string> {
  const file = path.join(packDir, 'pack.json');
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new RwsError('pack-json', `${file}: cannot read the pack manifest (${(e as Error).message})`, { file });
  }
  manifest.autoMix = { ...((manifest.autoMix ?? {}) as Record<string, unknown>), ...fields };
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  parsePackManifest(text, file);
  await writeFileAtomic(file, text);
  return file;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
