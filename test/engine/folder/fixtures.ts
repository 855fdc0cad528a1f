// Fixtures of the folder-run tests and bench, made by code:
// - folderTestModel(): a tiny image classifier as ONNX bytes, encoded by hand so these tests need
//   nothing else (Conv 3x3 → Relu → GlobalAveragePool → Flatten → Gemm; seeded weights).
// - makeImageFolder(): a folder of small images of every format, with every kind of bad file.
import { mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

type Field = number[];
const key = (field: number, wire: number): number[] => varint((field << 3) | wire);
const int = (field: number, v: number): Field => [...key(field, 0), ...varint(v)];
const bytes = (field: number, b: ArrayLike<number>): Field => [...key(field, 2), ...varint(b.length), ...Array.from(b)];
const str = (field: number, s: string): Field => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, ...parts: Field[]): Field => bytes(field, parts.flat());

function tensor(name: string, dims: number[], values: Float32Array): Field {
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...bytes(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))];
}

function valueInfo(name: string, dims: (number | string)[]): Field {
  const dim = dims.map((d) => msg(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return [...str(1, name), ...msg(2, msg(1, int(1, 1), msg(2, ...dim)))];
}

function node(op: string, inputs: string[], outputs: string[], attrs: Field[] = []): Field {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, `${op}_${outputs[0]}`), ...str(4, op), ...attrs.flat()];
}

const attrInts = (name: string, v: number[]): Field => msg(5, str(1, name), ...v.map((x) => int(8, x)), int(20, 7));
const attrInt = (name: string, v: number): Field => msg(5, str(1, name), int(3, v), int(20, 2));

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/** ONNX bytes of a small classifier over `[N, channels, size, size]` (batch dimension symbolic). */
export function folderTestModel(opts: { channels?: 1 | 3; size?: number; classes?: number; hidden?: number; seed?: number } = {}): Uint8Array {
  const c = opts.channels ?? 1;
  const size = opts.size ?? 28;
  const k = opts.classes ?? 10;
  const h = opts.hidden ?? 8;
  const rnd = seeded(opts.seed ?? 11);
  const fill = (n: number, scale: number) => Float32Array.from({ length: n }, () => rnd() * scale);
  const graph: Field[] = [
    msg(1, ...[node('Conv', ['input', 'conv.weight', 'conv.bias'], ['c1'], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])])]),
    msg(1, node('Relu', ['c1'], ['r1'])),
    msg(1, node('GlobalAveragePool', ['r1'], ['p1'])),
    msg(1, node('Flatten', ['p1'], ['f1'], [attrInt('axis', 1)])),
    msg(1, node('Gemm', ['f1', 'fc.weight', 'fc.bias'], ['logits'], [attrInt('transB', 1)])),
    str(2, 'folder-test-model'),
    msg(5, tensor('conv.weight', [h, c, 3, 3], fill(h * c * 9, 2))),
    msg(5, tensor('conv.bias', [h], fill(h, 3))),
    msg(5, tensor('fc.weight', [k, h], fill(k * h, 8))),
    msg(5, tensor('fc.bias', [k], fill(k, 0))),
    msg(11, valueInfo('input', ['N', c, size, size])),
    msg(12, valueInfo('logits', ['N', k])),
  ];
  return Uint8Array.from([...int(1, 8), ...msg(8, str(1, ''), int(2, 17)), ...str(2, 'rws-test'), ...msg(7, ...graph)]);
}

/** A generated test image: a gradient and a disc whose place depends on `seed` (so classes differ). */
export function testImage(seed: number, width = 40, height = 30): Sharp {
  const cx = 8 + ((seed * 7) % Math.max(1, width - 16));
  const cy = 8 + ((seed * 5) % Math.max(1, height - 16));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="rgb(${(seed * 37) % 256},40,90)"/><stop offset="1" stop-color="rgb(20,${(seed * 71) % 256},200)"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/><circle cx="${cx}" cy="${cy}" r="${Math.min(width, height) / 4}" fill="white"/></svg>`;
  return sharp(Buffer.from(svg));
}

/** What makeImageFolder wrote: good images and bad files by kind, with their relative paths. */
export interface ImageFolder {
  dir: string;
  good: string[];
  bad: Record<'empty' | 'truncated' | 'notImage' | 'pixelBomb' | 'brokenLink' | 'unreadable', string>;
  /** Files that are not images and are not named like them: skipped, not failed. */
  skipped: string[];
}

/**
 * A folder of `count` good images in every format (some in sub-folders, with spaces and non-Latin
 * names, one with an EXIF orientation), plus one bad file of each kind. `unreadable` is mode 000,
 * which only fails when the tests do not run as root.
 */
export async function makeImageFolder(dir: string, count = 24): Promise<ImageFolder> {
  await mkdir(path.join(dir, 'sub folder', 'ünïcödé 日本'), { recursive: true });
  await mkdir(path.join(dir, 'bad'), { recursive: true });
  const formats = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const;
  const ext = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif', tiff: 'tif', avif: 'avif' };
  const good: string[] = [];
  for (let i = 0; i < count; i++) {
    const f = formats[i % formats.length]!;
    const where = i % 3 === 0 ? '' : i % 3 === 1 ? 'sub folder/' : 'sub folder/ünïcödé 日本/';
    const rel = `${where}image ${String(i).padStart(3, '0')}.${ext[f]}`;
    await testImage(i).toFormat(f).toFile(path.join(dir, rel));
    good.push(rel);
  }
  // An image known by its content only, and one turned by EXIF.
  await writeFile(path.join(dir, 'no-extension'), await testImage(101).jpeg().toBuffer());
  good.push('no-extension');
  await testImage(102).jpeg().withMetadata({ orientation: 6 }).toFile(path.join(dir, 'rotated.jpg'));
  good.push('rotated.jpg');

  const jpeg = await testImage(103, 200, 150).jpeg().toBuffer();
  await writeFile(path.join(dir, 'bad', 'empty.jpg'), new Uint8Array(0));
  await writeFile(path.join(dir, 'bad', 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await writeFile(path.join(dir, 'bad', 'notes.jpg'), 'this is a text file with an image name\n');
  await sharp({ create: { width: 3000, height: 3000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toFile(path.join(dir, 'bad', 'pixel bomb.png'));
  await symlink(path.join(dir, 'does-not-exist.jpg'), path.join(dir, 'bad', 'broken link.jpg'));
  await testImage(104).png().toFile(path.join(dir, 'bad', 'locked.png'));
  await chmod(path.join(dir, 'bad', 'locked.png'), 0o000);
  await writeFile(path.join(dir, 'README.txt'), 'field camera 3, card 2\n');
  return {
    dir,
    good: good.sort(),
    bad: {
      empty: 'bad/empty.jpg',
      truncated: 'bad/truncated.jpg',
      notImage: 'bad/notes.jpg',
      pixelBomb: 'bad/pixel bomb.png',
      brokenLink: 'bad/broken link.jpg',
      unreadable: 'bad/locked.png',
    },
    skipped: ['README.txt'],
  };
}
