import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { decodeImage, sniffImage, toTensor } from '../../../main/engine/io/image-decode.js';
import type { InputSpec } from '../../../main/engine/packs/pack.js';
import { testImage } from '../folder/fixtures.js';

const grey28: InputSpec = { name: 'input', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' };
const spec = (over: Partial<InputSpec>): InputSpec => ({ ...grey28, ...over });

/** Left half one colour, right half another. */
function halves(width: number, height: number, left: string, right: string): Sharp {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" shape-rendering="crispEdges">
    <rect width="${width / 2}" height="${height}" fill="${left}"/><rect x="${width / 2}" width="${width / 2}" height="${height}" fill="${right}"/></svg>`;
  return sharp(Buffer.from(svg));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(RwsError);
    return (e as RwsError).code;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rws-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sniffImage', () => {
  it('knows every format sharp decodes by its first bytes, not its name', async () => {
    for (const [fmt, kind] of [['jpeg', 'jpeg'], ['png', 'png'], ['webp', 'webp'], ['gif', 'gif'], ['tiff', 'tiff'], ['avif', 'avif']] as const) {
      const bytes = await testImage(1).toFormat(fmt).toBuffer();
      expect(sniffImage(bytes.subarray(0, 32))).toBe(kind);
    }
    expect(sniffImage(new TextEncoder().encode('hello, not an image at all'))).toBeUndefined();
    expect(sniffImage(new Uint8Array(0))).toBeUndefined();
  });
});

describe('decodeImage', () => {
  it('decodes every format to the same picture (within lossy coding)', async () => {
    const ref = await decodeImage(await testImage(3).png().toBuffer(), grey28);
    expect(ref.length).toBe(28 * 28);
    for (const fmt of ['jpeg', 'webp', 'gif', 'tiff', 'avif'] as const) {
      const t = await decodeImage(await testImage(3).toFormat(fmt).toBuffer(), grey28);
      let diff = 0;
      for (let i = 0; i < t.length; i++) diff += Math.abs(t[i]! - ref[i]!);
      expect(diff / t.length, fmt).toBeLessThan(0.06);
    }
  });

  it('lays out channels as NCHW or NHWC, in RGB or BGR order', async () => {
    const png = await halves(4, 2, '#ff0000', '#0000ff').png().toBuffer();
    const rgb = spec({ width: 4, height: 2, channels: 3, colorSpace: 'rgb' });
    const nchw = await decodeImage(png, rgb);
    // Plane 0 is red: 1 on the left, 0 on the right; plane 2 is blue, the other way round.
    expect(Array.from(nchw.subarray(0, 4))).toEqual([1, 1, 0, 0]);
    expect(Array.from(nchw.subarray(16, 20))).toEqual([0, 0, 1, 1]);
    const nhwc = await decodeImage(png, { ...rgb, layout: 'NHWC' });
    expect(Array.from(nhwc.subarray(0, 3))).toEqual([1, 0, 0]);
    expect(Array.from(nhwc.subarray(9, 12))).toEqual([0, 0, 1]);
    const bgr = await decodeImage(png, { ...rgb, colorSpace: 'bgr' });
    expect(Array.from(bgr.subarray(0, 4))).toEqual([0, 0, 1, 1]);
  });

  it('applies the range, then mean and std per channel', async () => {
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 128, g: 64, b: 0 } } }).png().toBuffer();
    const t = await decodeImage(png, spec({ width: 2, height: 2, channels: 3, colorSpace: 'rgb', range: [0, 255], mean: [100, 60, 10], std: [2, 4, 5] }));
    expect(t[0]).toBeCloseTo(14, 4);
    expect(t[4]).toBeCloseTo(1, 4);
    expect(t[8]).toBeCloseTo(-2, 4);
    // A grey image feeds all three channels of an RGB model.
    const g = toTensor(Uint8Array.from([255]), 1, spec({ width: 1, height: 1, channels: 3, colorSpace: 'rgb' }));
    expect(Array.from(g)).toEqual([1, 1, 1]);
  });

  it('honours EXIF orientation', async () => {
    // Stored 40×20, left half white; orientation 6 shows it turned 90° clockwise: white on top.
    const jpeg = await halves(40, 20, '#fff', '#000').jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const t = await decodeImage(jpeg, spec({ width: 20, height: 40 }));
    expect(t[5 * 20 + 10]).toBeGreaterThan(0.9);
    expect(t[35 * 20 + 10]).toBeLessThan(0.1);
  });

  it('resizes by fill, contain (black bars) and cover (centre crop)', async () => {
    const wide = await sharp({ create: { width: 40, height: 20, channels: 3, background: '#fff' } }).png().toBuffer();
    const square = spec({ width: 20, height: 20 });
    const contain = await decodeImage(wide, { ...square, resize: 'contain' });
    expect(contain[0]).toBe(0);
    expect(contain[10 * 20 + 10]).toBe(1);
    const fill = await decodeImage(wide, square);
    expect(fill[0]).toBe(1);
    const framed = await halves(40, 20, '#000', '#fff').composite([{ input: await sharp({ create: { width: 20, height: 20, channels: 3, background: '#fff' } }).png().toBuffer(), left: 10, top: 0 }]).png().toBuffer();
    const cover = await decodeImage(framed, { ...square, resize: 'cover' });
    expect(Math.min(...cover)).toBeGreaterThan(0.9);
  });

  it('takes the first frame of an animated GIF', async () => {
    const white = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer();
    const black = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
    const gif = await sharp([white, black], { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const t = await decodeImage(gif, spec({ width: 8, height: 8 }));
    expect(Math.min(...t)).toBeGreaterThan(0.9);
  });

  it('names each kind of bad file with its code and the file', async () => {
    const jpeg = await testImage(5, 200, 150).jpeg().toBuffer();
    const files: Record<string, Uint8Array | string> = {
      'empty.jpg': new Uint8Array(0),
      'notes.jpg': 'plain text, not an image',
      'cut.jpg': jpeg.subarray(0, jpeg.length >> 1),
      'cut.png': (await testImage(5, 200, 150).png().toBuffer()).subarray(0, 300),
    };
    for (const [name, data] of Object.entries(files)) await writeFile(path.join(dir, name), data);
    expect(await codeOf(decodeImage(path.join(dir, 'empty.jpg'), grey28))).toBe('empty');
    expect(await codeOf(decodeImage(path.join(dir, 'notes.jpg'), grey28))).toBe('not-image');
    expect(await codeOf(decodeImage(path.join(dir, 'cut.jpg'), grey28))).toBe('truncated');
    expect(await codeOf(decodeImage(path.join(dir, 'cut.png'), grey28))).toBe('truncated');
    expect(await codeOf(decodeImage(path.join(dir, 'missing.jpg'), grey28))).toBe('unreadable');
    expect(await codeOf(decodeImage(dir, grey28))).toBe('unreadable');
    const big = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#000' } }).png().toBuffer();
    expect(await codeOf(decodeImage(big, grey28, { maxPixels: 1_000_000 }))).toBe('too-many-pixels');
    expect(await codeOf(decodeImage(big, grey28, { maxPixels: 2_000_000 }))).toBe('ok');
    try {
      await decodeImage(path.join(dir, 'cut.jpg'), grey28, { name: 'photos/cut.jpg' });
    } catch (e) {
      expect((e as RwsError).message).toMatch(/^photos\/cut\.jpg: /);
      expect((e as RwsError).file).toBe('photos/cut.jpg');
    }
  });

  it('decodes and explains large files too (left to libvips rather than read whole)', async () => {
    const w = 2400;
    const h = 1800;
    const noise = Buffer.alloc(w * h * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const jpeg = await sharp(noise, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 100 }).toBuffer();
    expect(jpeg.length).toBeGreaterThan(4 * 1024 * 1024);
    await writeFile(path.join(dir, 'big.jpg'), jpeg);
    await writeFile(path.join(dir, 'big-cut.jpg'), jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
    expect((await decodeImage(path.join(dir, 'big.jpg'), grey28)).length).toBe(28 * 28);
    expect(await codeOf(decodeImage(path.join(dir, 'big-cut.jpg'), grey28))).toBe('truncated');
    expect(await codeOf(decodeImage(path.join(dir, 'big.jpg'), grey28, { maxPixels: 1_000_000 }))).toBe('too-many-pixels');
  });

  it.skipIf(process.getuid?.() === 0)('reports a file without read permission as unreadable (skipped as root, who reads everything)', async () => {
    const file = path.join(dir, 'locked.png');
    await testImage(6).png().toFile(file);
    await chmod(file, 0o000);
    expect(await codeOf(decodeImage(file, grey28))).toBe('unreadable');
  });
});

describe('resize 256 then centre-crop 224 (shorterSide)', () => {
  it('equals scaling the shorter side to 256 and cutting out the centre 224×224, as torchvision does', async () => {
    const rgb: InputSpec = { ...grey28, width: 224, height: 224, channels: 3, colorSpace: 'rgb', layout: 'NHWC', resize: 'cover', shorterSide: 256 };
    const source = await testImage(3, 400, 300).png().toBuffer();
    const ours = await decodeImage(source, rgb);
    // torchvision's way, step by step: shorter side 300 → 256 (width 400 → 341), then the centre.
    const scaled = await sharp(source).resize(341, 256, { fit: 'fill' }).png().toBuffer();
    const { data } = await sharp(scaled).extract({ left: Math.round((341 - 224) / 2), top: 16, width: 224, height: 224 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff += Math.abs(ours[i]! - data[i]! / 255);
    expect(diff / ours.length).toBeLessThan(0.01);
    // Not what a plain cover resize (the whole shorter side, no 256 step) gives.
    const cover = await decodeImage(source, { ...rgb, shorterSide: undefined });
    let coverDiff = 0;
    for (let i = 0; i < ours.length; i++) coverDiff += Math.abs(ours[i]! - cover[i]!);
    expect(coverDiff / ours.length).toBeGreaterThan(0.01);
  });
});
