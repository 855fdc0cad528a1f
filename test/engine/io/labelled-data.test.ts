// Labelled folders are read with the one label <-> folder-name rule (core/class-folders.ts): the
// names a folder run's "copy into class folders" writes, and lower-case hand-made ones.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classFolderNames } from '../../../main/core/class-folders.js';
import { loadLabelledData } from '../../../main/engine/io/labelled-data.js';
import type { InputSpec } from '../../../main/engine/packs/pack.js';

const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const SPEC: InputSpec = { name: 'input', layout: 'NCHW', width: 8, height: 8, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' };
let dir: string;

async function png(file: string, value: number): Promise<void> {
  await sharp(Buffer.alloc(64, value), { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(file);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rws-labelled-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadLabelledData, class folders', () => {
  it('reads the class folders a folder run writes, for every label', async () => {
    const data = path.join(dir, 'by-class');
    for (const [i, name] of classFolderNames(LABELS).entries()) {
      await mkdir(path.join(data, name), { recursive: true });
      await png(path.join(data, name, 'a.png'), i * 20);
    }
    const set = await loadLabelledData(data, SPEC, LABELS);
    expect(set.labels.slice().sort((a, b) => a - b)).toEqual(LABELS.map((_, i) => i));
    // Each image is in its own class's folder: its value says which.
    for (const [k, label] of set.labels.entries()) expect(Math.round(set.images[k]!.data[0]! * 255)).toBe(label * 20);
  });

  it('reads lower-case and dashed names, and refuses a folder that names no class, saying what it expected', async () => {
    const data = path.join(dir, 'hand-made');
    for (const name of ['ankle-boot', 't-shirt_top', '3']) {
      await mkdir(path.join(data, name), { recursive: true });
      await png(path.join(data, name, 'x.png'), 100);
    }
    const set = await loadLabelledData(data, SPEC, LABELS);
    expect(set.labels.slice().sort((a, b) => a - b)).toEqual([0, 3, 9]);
    await mkdir(path.join(data, 'hats'));
    await expect(loadLabelledData(data, SPEC, LABELS)).rejects.toMatchObject({ code: 'eval-data', message: expect.stringContaining('T-shirt_top') });
  });

  it('refuses a folder of unlabelled images, naming it and saying what measuring needs', async () => {
    const data = path.join(dir, 'unlabelled');
    await mkdir(data, { recursive: true });
    await png(path.join(data, 'field-1.png'), 50);
    await expect(loadLabelledData(data, SPEC, LABELS)).rejects.toMatchObject({
      code: 'eval-data',
      file: data,
      message: `${data}: no IDX files and no class sub-folders: measuring needs labelled images (Fashion-MNIST-style IDX files, or one sub-folder per class named by its label or index)`,
    });
  });
});
