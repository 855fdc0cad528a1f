// The images `rws train` learns from, at the model's input size: IDX files (Fashion-MNIST's
// format, labelled), a folder with one sub-folder per class (labelled), or any folder of images
// (unlabelled: the clean model's own predictions are the targets). Kept as 8-bit pixels, the way
// a decoded file arrives, so that 2,000 images at 224×224 take 300 MB, not 1.2 GB of floats.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from '../io/sharp.js';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Image } from '../../core/corruptions/index.js';
import { classOfFolder } from '../../core/class-folders.js';
import { applyDraw, type ConditionDraw } from '../../core/corruptions/mixture.js';
import { RwsError } from '../../core/errors.js';
import { imageSize, unitToBytes } from '../../core/tensors.js';
import { walkInputs } from '../folder/walk.js';
import { decodePixels, hasImageExtension, toTensor } from '../io/image-decode.js';
import { readIdx } from '../io/idx.js';
import { idxPair } from '../io/labelled-data.js';
import type { InputSpec } from '../packs/pack.js';

/** Training images as decoded pixels, with labels when the data carries them. */
export interface TrainingImages {
  /** What was read: the IDX images file or the folder. */
  source: string;
  width: number;
  height: number;
  /** Channels of each image's pixels (1 or 3). */
  channels: 1 | 3;
  /** HWC 8-bit pixels at the model's input size, one per image. */
  pixels: Uint8Array[];
  /** Each image's name (a path relative to the folder, or `#i` in an IDX file). */
  names: string[];
  /** Class indices, when the data has them (IDX labels, class sub-folders). */
  labels?: number[];
  /** Where labels came from. */
  labelSource?: 'idx' | 'folders';
  /** Files that could not be decoded: reported and skipped. */
  failed: { file: string; message: string }[];
}

export interface TrainingDataOptions {
  /** `folder` requires labels (IDX or class sub-folders); `model` ignores any for training (they still measure). */
  labels?: 'folder' | 'model';
  /** Read at most this many images (IDX: the first ones; folders: spread over the classes). */
  limit?: number;
  /** Called as images are decoded. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The image as the corruptions take it: values 0..1. */
export function imageOf(data: TrainingImages, i: number): Image {
  const px = data.pixels[i]!;
  const out = new Float32Array(px.length);
  for (let k = 0; k < px.length; k++) out[k] = px[k]! / 255;
  return { width: data.width, height: data.height, channels: data.channels, data: out };
}

/**
 * The model input for images `indices` of `data`, each corrupted by its draw (none: clean), rounded
 * to 8 bits as a decoded file is; zero-padded to `size` images (a model with a fixed batch). Gives
 * the event loop a turn after each image, so that a training step in flight is sent meanwhile.
 */
export async function batchInput(data: TrainingImages, indices: readonly number[], spec: InputSpec, drawOf: (j: number) => ConditionDraw | undefined, size = indices.length): Promise<Float32Array> {
  const per = imageSize(spec);
  const out = new Float32Array(size * per);
  for (const [j, i] of indices.entries()) {
    const draw = drawOf(j);
    const px = draw ? unitToBytes(applyDraw(imageOf(data, i), draw).data) : data.pixels[i]!;
    out.set(toTensor(px, data.channels, spec), j * per);
    await yieldToLoop();
  }
  return out;
}

/** SHA-256 over every image's pixels and label, in order: what a resumed training must find again. */
export function dataFingerprint(data: TrainingImages): string {
  const h = createHash('sha256');
  h.update(`${data.width}x${data.height}x${data.channels}:${data.pixels.length}\n`);
  data.pixels.forEach((p, i) => {
    h.update(p);
    h.update(`:${data.labels?.[i] ?? ''}\n`);
  });
  return h.digest('hex');
}

/** Class sub-folders of `dir` and the class each names, or why they are not class folders. */
async function classFolders(dir: string, labels: readonly string[]): Promise<{ folders: { name: string; label: number }[] } | { why: string }> {
  const entries = (await readdir(dir, { withFileTypes: true })).filter((d) => !d.name.startsWith('.'));
  const subs = entries.filter((d) => d.isDirectory()).map((d) => d.name).sort();
  if (!subs.length) return { why: 'it has no sub-folders' };
  const loose = entries.filter((d) => d.isFile() && hasImageExtension(d.name));
  if (loose.length) return { why: `images lie beside the sub-folders (${loose[0]!.name})` };
  const folders = subs.map((name) => ({ name, label: classOfFolder(name, labels) }));
  const strange = folders.find((f) => f.label < 0);
  if (strange) return { why: `sub-folder "${strange.name}" is neither a label of the pack nor a class index 0..${labels.length - 1}` };
  return { folders };
}

/** Files spread over the classes, so that a limit keeps them balanced. */
function interleave<T>(perClass: T[][], limit: number): T[] {
  const total = Math.min(limit, perClass.reduce((s, c) => s + c.length, 0));
  const out: T[] = [];
  for (let i = 0; out.length < total; i++) for (const c of perClass) if (i < c.length && out.length < total) out.push(c[i]!);
  return out;
}

/**
 * Reads the training images of `data` (an IDX images file or a folder holding `train-*` or
 * `t10k-*` IDX files; a folder of class sub-folders; any folder of images) at the size of `spec`.
 * Undecodable files are listed in `failed` and skipped; no image at all is an error naming DATA.
 */
export async function loadTrainingImages(data: string, spec: InputSpec, labels: readonly string[], opts: TrainingDataOptions = {}): Promise<TrainingImages> {
  let isDir: boolean;
  try {
    isDir = (await stat(data)).isDirectory();
  } catch {
    throw new RwsError('train-data', `${data}: no such file or folder`, { file: data, field: '--data' });
  }
  const limit = opts.limit ?? Infinity;
  const channels = (spec.channels === 1 || spec.colorSpace === 'grey' ? 1 : 3) as 1 | 3;
  const base = { width: spec.width, height: spec.height, channels, failed: [] as { file: string; message: string }[] };

  const pair = idxPair(data, isDir, ['train', 't10k']);
  if (pair) {
    const [imgs, lbls] = await Promise.all([readIdx(pair.images), readIdx(pair.labels)]);
    const [n, h, w] = imgs.dims as [number, number, number];
    if (imgs.dims.length !== 3 || lbls.dims[0] !== n) throw new RwsError('train-data', `${pair.images}: expected N×H×W images and N labels in ${pair.labels}`, { file: pair.images, field: '--data' });
    const count = Math.min(limit, n);
    const bad = Array.from(lbls.data.subarray(0, count)).findIndex((l) => l >= labels.length);
    if (bad >= 0) throw new RwsError('train-data', `${pair.labels}: label ${lbls.data[bad]} of image ${bad} is not a class of the pack (0..${labels.length - 1})`, { file: pair.labels, field: '--data' });
    const pixels: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const px = imgs.data.subarray(i * h * w, (i + 1) * h * w);
      if (w === spec.width && h === spec.height && channels === 1) pixels.push(px.slice());
      else {
        const png = await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
        const d = await decodePixels(png, spec, { name: `${pair.images}#${i}` });
        pixels.push(new Uint8Array(d.data));
      }
      opts.onProgress?.(i + 1, count);
    }
    return { ...base, source: pair.images, pixels, names: pixels.map((_, i) => `#${i}`), labels: Array.from(lbls.data.subarray(0, count)), labelSource: 'idx' };
  }
  if (!isDir) throw new RwsError('train-data', `${data}: not IDX images (…-images-idx3-ubyte[.gz]) nor a folder of images`, { file: data, field: '--data' });

  const classes = await classFolders(data, labels);
  let files: { path: string; name: string; label?: number }[];
  let labelSource: TrainingImages['labelSource'];
  if ('folders' in classes) {
    const perClass: { path: string; name: string; label: number }[][] = [];
    for (const f of classes.folders) {
      const walk = await walkInputs([path.join(data, f.name)], { signal: opts.signal });
      perClass.push(walk.files.map((w) => ({ path: w.path, name: `${f.name}/${w.rel}`, label: f.label })));
    }
    files = interleave(perClass, limit);
    labelSource = 'folders';
  } else {
    if (opts.labels === 'folder') {
      throw new RwsError('train-labels', `${data}: --labels folder needs one sub-folder per class, named by a label of the pack or its index, but ${classes.why}; use --labels model to learn from the clean model's own predictions`, { file: data, field: '--labels' });
    }
    const walk = await walkInputs([data], { signal: opts.signal });
    for (const p of walk.problems) base.failed.push({ file: p.path, message: p.message });
    files = walk.files.slice(0, limit).map((w) => ({ path: w.path, name: w.rel }));
  }
  const pixels: Uint8Array[] = [];
  const names: string[] = [];
  const got: number[] = [];
  for (const [i, f] of files.entries()) {
    if (opts.signal?.aborted) throw new RwsError('train-stopped', `${data}: stopped while reading the images`, { file: data });
    try {
      const d = await decodePixels(f.path, spec, { name: f.path });
      pixels.push(new Uint8Array(d.data));
      names.push(f.name);
      if (f.label !== undefined) got.push(f.label);
    } catch (e) {
      base.failed.push({ file: f.path, message: (e as Error).message });
    }
    opts.onProgress?.(i + 1, files.length);
  }
  if (!pixels.length) throw new RwsError('train-data', `${data}: no image could be read${base.failed.length ? ` (${base.failed.length} failed; the first: ${base.failed[0]!.message})` : ''}`, { file: data, field: '--data' });
  return { ...base, source: data, pixels, names, ...(labelSource ? { labels: got, labelSource } : {}) };
}
