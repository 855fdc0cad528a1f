import { readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { RwsError } from '../core/errors.js';
import type { Image } from '../core/corruptions/index.js';
import type { InputSpec } from '../engine/pack.js';
import { readIdx } from '../engine/idx.js';
import { hasImageExtension } from '../engine/image-decode.js';

/** Labelled images at the model's size (HWC, 0..1), for evaluation. */
export interface LabelledSet {
  source: string;
  images: Image[];
  labels: number[];
}

/** Debian's Fashion-MNIST (package dataset-fashion-mnist); `RWS_FASHION_MNIST` overrides. */
export function defaultEvalData(): string {
  return process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
}

function idxFile(dir: string, stem: string): string | undefined {
  for (const name of [`${stem}.gz`, stem]) if (existsSync(path.join(dir, name))) return path.join(dir, name);
  return undefined;
}

/** The first `limit` test images of an IDX folder (t10k-images/labels), resized to the model when needed. */
async function fromIdx(dir: string, spec: InputSpec, limit: number): Promise<LabelledSet | undefined> {
  const imgFile = idxFile(dir, 't10k-images-idx3-ubyte');
  const lblFile = idxFile(dir, 't10k-labels-idx1-ubyte');
  if (!imgFile || !lblFile) return undefined;
  const [imgs, lbls] = await Promise.all([readIdx(imgFile), readIdx(lblFile)]);
  const [n, h, w] = imgs.dims as [number, number, number];
  const count = Math.min(limit, n, lbls.dims[0]!);
  const images: Image[] = [];
  for (let i = 0; i < count; i++) {
    const px = imgs.data.subarray(i * h * w, (i + 1) * h * w);
    images.push(await toModelImage(sharp(Buffer.from(px), { raw: { width: w, height: h, channels: 1 } }), spec, w, h, px));
  }
  return { source: dir, images, labels: Array.from(lbls.data.subarray(0, count)) };
}

async function toModelImage(img: Sharp, spec: InputSpec, w?: number, h?: number, px?: Uint8Array): Promise<Image> {
  const c = spec.channels;
  // Already the model's size and grey: no resampling.
  if (px && w === spec.width && h === spec.height && c === 1) return { width: w, height: h, channels: 1, data: Float32Array.from(px, (v) => v / 255) };
  let p = img.resize(spec.width, spec.height, { fit: spec.resize }).removeAlpha();
  p = c === 1 ? p.greyscale() : p.toColourspace('srgb');
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  const out = new Float32Array(spec.width * spec.height * c);
  for (let i = 0; i < spec.width * spec.height; i++) for (let k = 0; k < c; k++) out[i * c + k] = data[i * info.channels + (info.channels === 1 ? 0 : k)]! / 255;
  return { width: spec.width, height: spec.height, channels: c, data: out };
}

/** A folder with one sub-folder per class, named by label or by index. */
async function fromFolder(dir: string, spec: InputSpec, labels: string[], limit: number): Promise<LabelledSet> {
  const subs = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const files: { file: string; label: number }[] = [];
  for (const sub of subs) {
    let label = labels.indexOf(sub);
    if (label < 0 && /^\d+$/.test(sub) && Number(sub) < labels.length) label = Number(sub);
    if (label < 0) continue;
    for (const f of (await readdir(path.join(dir, sub))).sort()) if (hasImageExtension(f)) files.push({ file: path.join(dir, sub, f), label });
  }
  if (files.length === 0) {
    throw new RwsError('eval-data', `${dir}: no labelled images (one sub-folder per class, named by label or index, or Fashion-MNIST idx files)`, { file: dir, field: 'data' });
  }
  // Interleave classes so a small limit still covers them all.
  const byClass = new Map<number, typeof files>();
  for (const f of files) byClass.set(f.label, [...(byClass.get(f.label) ?? []), f]);
  const picked: typeof files = [];
  for (let i = 0; picked.length < Math.min(limit, files.length); i++) for (const list of byClass.values()) if (list[i] && picked.length < limit) picked.push(list[i]!);
  const images: Image[] = [];
  const out: number[] = [];
  for (const f of picked) {
    try {
      images.push(await toModelImage(sharp(f.file, { limitInputPixels: 100_000_000 }).rotate(), spec));
      out.push(f.label);
    } catch {
      // An unreadable file is left out of the evaluation, not fatal.
    }
  }
  return { source: dir, images, labels: out };
}

/** Load labelled images from an IDX folder or a class-per-folder tree. */
export async function loadLabelledSet(dir: string, spec: InputSpec, labels: string[], limit: number): Promise<LabelledSet> {
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new RwsError('eval-data', `${dir}: no such folder (install dataset-fashion-mnist or give a labelled folder)`, { file: dir, field: 'data' });
  return (await fromIdx(dir, spec, limit)) ?? fromFolder(dir, spec, labels, limit);
}
