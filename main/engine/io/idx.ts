import { gunzipSync } from 'node:zlib';
import { RwsError } from '../../core/errors.js';
import { readRegularFile } from './regular-file.js';

/** An IDX array (the MNIST file format): its dimensions and unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Parse IDX bytes (gzipped or not); only the unsigned-byte type (0x08) that MNIST-style sets use. */
export function parseIdx(buf: Uint8Array, file = '(idx)'): IdxArray {
  const raw = buf[0] === 0x1f && buf[1] === 0x8b ? new Uint8Array(gunzipSync(buf)) : buf;
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) throw new RwsError('idx-format', `${file}: not an IDX file (bad magic number)`, { file });
  if (raw[2] !== 0x08) throw new RwsError('idx-format', `${file}: IDX element type 0x${raw[2]!.toString(16)} is not supported (only unsigned bytes)`, { file });
  const ndim = raw[3]!;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * ndim;
  if (raw.length - offset < count) throw new RwsError('idx-format', `${file}: truncated, ${raw.length - offset} bytes for ${dims.join('×')} values`, { file });
  return { dims, data: raw.subarray(offset, offset + count) };
}

/** Read an IDX file (`.gz` or plain). */
export async function readIdx(file: string): Promise<IdxArray> {
  const buf = await readRegularFile(file, { what: 'the IDX file', code: 'idx-missing' });
  return parseIdx(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), file);
}

/** Debian's Fashion-MNIST folder (package dataset-fashion-mnist); `RWS_FASHION_MNIST` overrides it. */
export function fashionMnistDir(): string {
  return process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
}
