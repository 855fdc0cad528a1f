// What the browser tests (and the gallery bench) share: where the repository, Debian's Chromium and
// Fashion-MNIST are, and the pictures they feed the app.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readIdx } from '../../main/engine/io/idx.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
export const SHOTS = path.join(ROOT, 'test', 'e2e', 'screenshots');
export const FASHION = process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
export const DEFAULT_PACK = path.join(ROOT, 'native-models', 'fashion-mnist');

export interface Labelled {
  /** 28×28 grey, 0..1. */
  data: Float32Array;
  label: number;
}

/**
 * Fashion-MNIST test images with their labels when Debian's dataset is installed (`real`), else
 * seeded blobs labelled by their index mod 10 (a machine without the dataset still runs the tests).
 */
export async function sampleImages(n: number): Promise<{ images: Labelled[]; real: boolean }> {
  const imgFile = path.join(FASHION, 't10k-images-idx3-ubyte.gz');
  const lblFile = path.join(FASHION, 't10k-labels-idx1-ubyte.gz');
  if (existsSync(imgFile) && existsSync(lblFile)) {
    const [imgs, lbls] = await Promise.all([readIdx(imgFile), readIdx(lblFile)]);
    const images = Array.from({ length: n }, (_, i) => ({ data: Float32Array.from(imgs.data.subarray(i * 784, (i + 1) * 784), (v) => v / 255), label: lbls.data[i]! }));
    return { images, real: true };
  }
  const images = Array.from({ length: n }, (_, i) => ({
    data: Float32Array.from({ length: 784 }, (_, p) => ((p % 28) - 14) ** 2 + (Math.floor(p / 28) - 14) ** 2 < 40 + 6 * (i % 10) ? 0.8 : 0.1),
    label: i % 10,
  }));
  return { images, real: false };
}

/** A grey square picture (values 0..1) as a PNG file. */
export async function writePng(file: string, data: Float32Array, size = 28): Promise<void> {
  const px = Buffer.from(Uint8Array.from(data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
  await sharp(px, { raw: { width: size, height: size, channels: 1 } }).png().toFile(file);
}
