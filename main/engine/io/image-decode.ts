import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { OutputInfo, Sharp } from 'sharp';
import { RwsError } from '../../core/errors.js';
import { DEFAULT_MAX_PIXELS } from './image-limits.js';
import type { InputSpec } from '../packs/pack.js';
import { openRegular, READ_FLAGS, readRange, specialKind } from './regular-file.js';
import sharp from './sharp.js';

// Folder runs decode each file once: libvips' operation cache (up to 50 MB by default) only holds
// memory that is never reused, and makes RSS grow over a long run.
sharp.cache(false);

/** Image formats recognised by their first bytes (what sharp's bundled libvips can decode). */
export type ImageKind = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif';

/** Codes of decode failures, as reported per file in a folder run. */
export type DecodeErrorCode = 'empty' | 'not-image' | 'truncated' | 'too-many-pixels' | 'unreadable' | 'not-regular-file';

export { DEFAULT_MAX_PIXELS };

export interface DecodeOptions {
  /** Refuse images with more pixels than this (width × height), before decoding them. */
  maxPixels?: number;
  /** Name to use in error messages when `input` is bytes. */
  name?: string;
}

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);

/** The image format that `head` (the first 32 or more bytes of a file) starts with, or undefined. */
export function sniffImage(head: Uint8Array): ImageKind | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && ascii(head, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (head.length >= 6 && (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')) return 'gif';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  if (head.length >= 4 && (ascii(head, 0, 4) === 'II*\0' || ascii(head, 0, 4) === 'MM\0*')) return 'tiff';
  if (head.length >= 12 && ascii(head, 4, 8) === 'ftyp') {
    const brand = ascii(head, 8, 12);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (HEIF_BRANDS.has(brand)) return 'heif';
  }
  return undefined;
}

/** The first `n` bytes of a regular file (fewer if it is shorter); a special file is refused (RwsError `not-regular-file`) without blocking. */
export async function readHead(file: string, n = 32): Promise<Uint8Array> {
  const { fh, size } = await openRegular(file, { what: 'an image', code: 'unreadable' });
  try {
    return await readRange(fh, 0, Math.min(n, size));
  } finally {
    await fh.close();
  }
}

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'does not exist (or is a broken link)',
  ELOOP: 'symbolic link loop',
  EISDIR: 'is a folder',
};

function fail(code: DecodeErrorCode, name: string, problem: string): RwsError {
  return new RwsError(code, `${name}: ${problem}`, { file: name });
}

/** libvips can report dozens of lines for one file: keep the last, short. */
function briefly(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => /[a-z]{4,}/i.test(l));
  const last = lines[lines.length - 1] ?? text;
  return last.length > 160 ? `${last.slice(0, 157)}...` : last;
}

/** True when the bytes are known to be cut short: the format's end marker or declared length is missing. */
export function isCutShort(kind: ImageKind, head: Uint8Array, tail: Uint8Array, size: number): boolean {
  const t = tail.length;
  switch (kind) {
    case 'jpeg': {
      // Some encoders pad after EOI: look for FF D9 near the end.
      for (let i = t - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return false;
      return true;
    }
    case 'png':
      return !(t >= 8 && ascii(tail, t - 8, t - 4) === 'IEND');
    case 'gif':
      return !(t >= 1 && tail[t - 1] === 0x3b);
    case 'webp':
      return head.length >= 8 && size < new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true) + 8;
    default:
      return false;
  }
}

/** The first and last bytes of a file, and its size: what explaining a failure needs. */
interface FileEnds {
  head: Uint8Array;
  tail: Uint8Array;
  size: number;
}

const endsOf = (b: Uint8Array): FileEnds => ({ head: b.subarray(0, 32), tail: b.subarray(Math.max(0, b.length - 64)), size: b.length });

/** Files up to this size are read whole here; larger ones are left to libvips, which reads only what a shrinking decode needs. */
const READ_WHOLE_BYTES = 2 * 1024 * 1024;

/** Linux names an open file by its descriptor: libvips then reads the very file that was checked, not whatever the path holds now. */
const FD_PATHS = process.platform === 'linux' && existsSync('/proc/self/fd');

/** An image to decode: its bytes, or a path to it, and what explains a failure; `close` when done. */
interface ImageSource {
  input: Uint8Array | string;
  ends: () => Promise<FileEnds>;
  close: () => Promise<void>;
}

/**
 * A small file's bytes, or a large file's path (with its ends read only when needed). Only regular
 * files are read: a FIFO or a device (a link to /dev/zero) is refused after opening, without blocking.
 */
export async function openImage(file: string, name: string): Promise<ImageSource> {
  let fh: FileHandle | undefined;
  const close = async () => void (await fh?.close().catch(() => {}));
  try {
    fh = await open(file, READ_FLAGS);
    const st = await fh.stat();
    if (st.isDirectory()) throw fail('unreadable', name, 'is a folder');
    if (!st.isFile()) throw fail('not-regular-file', name, `not read: it is ${specialKind(st)}, not a regular file`);
    const size = st.size;
    if (size === 0) throw fail('empty', name, 'file is empty (0 bytes)');
    if (size <= READ_WHOLE_BYTES) {
      const bytes = await readRange(fh, 0, size);
      await close();
      return { input: bytes, ends: async () => endsOf(bytes), close: async () => {} };
    }
    const head = await readRange(fh, 0, 32);
    const tail = await readRange(fh, size - 64, 64);
    return { input: FD_PATHS ? `/proc/self/fd/${fh.fd}` : file, ends: async () => ({ head, tail, size }), close };
  } catch (e) {
    await close();
    if (e instanceof RwsError) throw e;
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw fail('unreadable', name, code === 'EISDIR' ? 'is a folder' : `cannot read: ${ERRNO_TEXT[code] ?? (code || (e as Error).message)}`);
  }
}

/**
 * Turn a sharp failure into the reason a user can act on. libvips' error text can be lost when
 * several images fail at once ("Unknown error"), so a cut-off file is recognised by its bytes
 * first, and by the message only for formats without an end marker.
 */
function explain(err: unknown, ends: FileEnds, name: string, maxPixels: number): RwsError {
  const text = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(text)) return fail('too-many-pixels', name, `image is larger than ${maxPixels} pixels (a pixel bomb?); raise --max-pixels to decode it`);
  const { head, tail, size } = ends;
  const kind = sniffImage(head);
  if (!kind) return fail('not-image', name, 'not an image (content is not JPEG, PNG, WebP, GIF, TIFF or AVIF/HEIF)');
  if (isCutShort(kind, head, tail, size)) {
    return fail('truncated', name, `${kind.toUpperCase()} data is truncated (the file ends before the image does)`);
  }
  const why = briefly(text);
  // libvips reports a cut-off file in many words; a known header that then fails to parse is one too.
  if (/truncat|premature end|unexpected end|end of (input|file|data|stream)|not enough data|read error|short read|incomplete|corrupt|unsupported image format/i.test(text)) {
    return fail('truncated', name, `${kind.toUpperCase()} data is truncated or damaged (${why})`);
  }
  return fail('unreadable', name, `cannot decode this ${kind.toUpperCase()} (${why})`);
}

/**
 * Decode an image file or its bytes into the model's input tensor for one image (layout, size,
 * colour, range and mean/std of `spec`), honouring EXIF orientation; GIFs give their first frame.
 * Failures are RwsErrors coded `empty`, `not-image`, `truncated`, `too-many-pixels` or `unreadable`.
 */
export async function decodeImage(input: string | Uint8Array, spec: InputSpec, opts: DecodeOptions = {}): Promise<Float32Array> {
  const { data, channels } = await decodePixels(input, spec, opts);
  return toTensor(data, channels, spec);
}

/**
 * Decode an image file or its bytes to 8-bit pixels (HWC) at the model's input size, resized and
 * in its colour space as `decodeImage` feeds them, before range and mean/std: what corruptions
 * are applied to. Fails as `decodeImage` does.
 */
export async function decodePixels(input: string | Uint8Array, spec: InputSpec, opts: DecodeOptions = {}): Promise<{ data: Uint8Array; channels: number }> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const name = opts.name ?? (typeof input === 'string' ? input : '(image bytes)');
  let source: ImageSource;
  if (typeof input === 'string') {
    // Small files are read here (measured a little faster than libvips opening them, and a
    // failure is explained from the same bytes); large ones stream through libvips.
    source = await openImage(input, name);
  } else {
    if (input.length === 0) throw fail('empty', name, 'file is empty (0 bytes)');
    source = { input, ends: async () => endsOf(input), close: async () => {} };
  }
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await pixels(source.input, spec, maxPixels);
  } catch (e) {
    // libvips can lose its message when several images fail at once; a second try alone tells more.
    let err = e;
    if (/unknown error/i.test(e instanceof Error ? e.message : String(e))) {
      try {
        out = await pixels(source.input, spec, maxPixels);
      } catch (again) {
        err = again;
      }
    }
    if (!out!) throw explain(err, await source.ends(), name, maxPixels);
  } finally {
    await source.close();
  }
  if (out.info.width !== spec.width || out.info.height !== spec.height) {
    throw fail('unreadable', name, `resized to ${out.info.width}×${out.info.height}, expected ${spec.width}×${spec.height}`);
  }
  return { data: out.data, channels: out.info.channels };
}

async function pixels(input: Uint8Array | string, spec: InputSpec, maxPixels: number): Promise<{ data: Buffer; info: OutputInfo }> {
  const grey = spec.colorSpace === 'grey' || spec.channels === 1;
  // failOn 'truncated': cameras write JPEGs with harmless warnings, but a cut-off file must fail.
  let img = resizeToInput(sharp(input, { limitInputPixels: maxPixels, failOn: 'truncated', pages: 1, page: 0 }).rotate(), spec).removeAlpha();
  img = grey ? img.greyscale() : img.toColourspace('srgb');
  return img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
}

/**
 * The resize a pack's input asks for: stretched (`fill`), letterboxed (`contain`), or the centre
 * cut out (`cover`); with `shorterSide` the shorter side is scaled to it first and the centre
 * width×height cut from that (torchvision's Resize(256) + CenterCrop(224)). The crop lies inside
 * the central shorterSide² square, so a cover resize to that square and an extract give it.
 */
export function resizeToInput(img: Sharp, spec: Pick<InputSpec, 'width' | 'height' | 'resize' | 'shorterSide'>): Sharp {
  const s = spec.resize === 'cover' ? spec.shorterSide : undefined;
  if (s === undefined) return img.resize(spec.width, spec.height, { fit: spec.resize, position: 'centre', background: { r: 0, g: 0, b: 0, alpha: 1 } });
  return img
    .resize(s, s, { fit: 'cover', position: 'centre' })
    .extract({ left: Math.round((s - spec.width) / 2), top: Math.round((s - spec.height) / 2), width: spec.width, height: spec.height });
}

/** Pixels (HWC, 8-bit, `have` channels) → the spec's float tensor (NCHW or NHWC, one image). */
export function toTensor(pixels: Uint8Array, have: number, spec: InputSpec): Float32Array {
  const { width: w, height: h, channels: c } = spec;
  const n = w * h;
  const out = new Float32Array(n * c);
  const [lo, hi] = spec.range;
  const bgr = spec.colorSpace === 'bgr';
  const planar = spec.layout === 'NCHW';
  for (let ch = 0; ch < c; ch++) {
    // Source channel: grey images feed every channel; BGR reads RGB backwards.
    const src = have === 1 ? 0 : bgr ? c - 1 - ch : ch;
    const mean = spec.mean[spec.mean.length === 1 ? 0 : ch]!;
    const std = spec.std[spec.std.length === 1 ? 0 : ch]!;
    // Folding range and normalisation into one multiply-add per value.
    const scale = (hi - lo) / 255 / std;
    const shift = (lo - mean) / std;
    for (let i = 0; i < n; i++) {
      const v = pixels[i * have + src]! * scale + shift;
      out[planar ? ch * n + i : i * c + ch] = v;
    }
  }
  return out;
}

// Which names are images is core's (the app's drop uses the same rule).
export { hasImageExtension, IMAGE_EXTENSIONS } from '../../core/image-names.js';
