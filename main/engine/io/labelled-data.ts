import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from './sharp.js';
import type { Image } from '../../core/corruptions/index.js';
import { classFolderNames, classOfFolder } from '../../core/class-folders.js';
import { RwsError } from '../../core/errors.js';
import { hasImageExtension, resizeToInput } from './image-decode.js';
import { readIdx } from './idx.js';
import type { InputSpec } from '../packs/pack.js';

/** Labelled images at the model's input size (HWC, 0..1), for evaluation. */
export interface LabelledData {
  source: string;
  images: Image[];
  labels: number[];
}

function firstExisting(...files: string[]): string | undefined {
  return files.find((f) => existsSync(f));
}

/**
 * The IDX image/label pair DATA names: a folder with `stems[0]`-* (else the next stem's) files, or
 * an images file. Evaluation looks for the test split (t10k) first, training for the training split.
 */
export function idxPair(data: string, isDir: boolean, stems: readonly string[] = ['t10k', 'train']): { images: string; labels: string } | undefined {
  if (!isDir) {
    if (!/idx3-ubyte(\.gz)?$/.test(data)) return undefined;
    const labels = firstExisting(data.replace('images-idx3-ubyte', 'labels-idx1-ubyte'));
    if (!labels) throw new RwsError('eval-data', `${data}: no labels file beside it (expected ${path.basename(data.replace('images-idx3-ubyte', 'labels-idx1-ubyte'))})`, { file: data });
    return { images: data, labels };
  }
  for (const stem of stems) {
    const images = firstExisting(...['', '.gz'].map((z) => path.join(data, `${stem}-images-idx3-ubyte${z}`)));
    const labels = firstExisting(...['', '.gz'].map((z) => path.join(data, `${stem}-labels-idx1-ubyte${z}`)));
    if (images && labels) return { images, labels };
  }
  return undefined;
}

async function toModelImage(file: string | Buffer, spec: InputSpec): Promise<Image> {
  const c = spec.channels;
  let p = resizeToInput(sharp(file, { failOn: 'error' }).rotate(), spec).removeAlpha();
  p = c === 1 ? p.greyscale() : p.toColourspace('srgb');
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(spec.width * spec.height * c);
  for (let i = 0; i < spec.width * spec.height; i++) {
    for (let k = 0; k < c; k++) out[i * c + k] = data[i * info.channels + (info.channels === 1 ? 0 : k)]! / 255;
  }
  return { width: spec.width, height: spec.height, channels: c, data: out };
}

/**
 * Loads labelled images: Fashion-MNIST-style IDX files (`.gz` or plain; a folder or the images
 * file), or a folder with one sub-folder per class named by its label (core/class-folders.ts: as a
 * folder run's class folders name it, in any case) or its index. Takes the
 * first `limit` images (IDX) or every `stride`-th per class in name order (folders).
 */
export async function loadLabelledData(data: string, spec: InputSpec, labels: string[], limit = Infinity): Promise<LabelledData> {
  let isDir: boolean;
  try {
    isDir = (await stat(data)).isDirectory();
  } catch {
    throw new RwsError('eval-data', `${data}: no such file or folder`, { file: data, field: 'data' });
  }
  const pair = idxPair(data, isDir);
  if (pair) {
    const [imgs, lbls] = await Promise.all([readIdx(pair.images), readIdx(pair.labels)]);
    const [n, h, w] = imgs.dims as [number, number, number];
    if (imgs.dims.length !== 3 || lbls.dims[0] !== n) throw new RwsError('eval-data', `${pair.images}: expected N×H×W images and N labels`, { file: pair.images });
    const count = Math.min(limit, n);
    const images: Image[] = [];
    for (let i = 0; i < count; i++) {
      const px = imgs.data.subarray(i * h * w, (i + 1) * h * w);
      if (w === spec.width && h === spec.height && spec.channels === 1) {
        images.push({ width: w, height: h, channels: 1, data: Float32Array.from(px, (v) => v / 255) });
      } else {
        const buf = await sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
        images.push(await toModelImage(buf, spec));
      }
    }
    return { source: pair.images, images, labels: Array.from(lbls.data.subarray(0, count)) };
  }
  if (!isDir) throw new RwsError('eval-data', `${data}: not IDX images (…-images-idx3-ubyte[.gz]) nor a folder`, { file: data, field: 'data' });
  const subs = (await readdir(data, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
  if (!subs.length) throw new RwsError('eval-data', `${data}: no IDX files and no class sub-folders: measuring needs labelled images (Fashion-MNIST-style IDX files, or one sub-folder per class named by its label or index)`, { file: data, field: 'data' });
  const perClass: { file: string; label: number }[][] = [];
  for (const sub of subs) {
    const label = classOfFolder(sub, labels);
    if (label < 0) {
      const names = classFolderNames(labels).join(', ');
      throw new RwsError('eval-data', `${path.join(data, sub)}: folder name is neither a class of the pack (${names}; any case, with spaces, _ or - between words) nor a class index 0..${labels.length - 1}`, { file: path.join(data, sub), field: 'data' });
    }
    const files = (await readdir(path.join(data, sub))).filter(hasImageExtension).sort();
    perClass.push(files.map((f) => ({ file: path.join(data, sub, f), label })));
  }
  // Interleave the classes so that a limit keeps them balanced.
  const order: { file: string; label: number }[] = [];
  for (let i = 0; order.length < Math.min(limit, perClass.reduce((s, c) => s + c.length, 0)); i++) {
    for (const c of perClass) if (i < c.length && order.length < limit) order.push(c[i]!);
  }
  const images: Image[] = [];
  for (const o of order) images.push(await toModelImage(o.file, spec));
  return { source: data, images, labels: order.map((o) => o.label) };
}
