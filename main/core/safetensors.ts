import { RwsError } from './errors.js';

/**
 * The safetensors container (Hugging Face's format): an 8-byte little-endian header length, a JSON
 * header, then the tensors' bytes back to back. Pure TS so it also runs in the renderer.
 */

/** Element types the format knows, with their size in bytes. */
export const SAFETENSORS_DTYPE_SIZE = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPE_SIZE;

/** One tensor to write: raw little-endian bytes in C order. */
export interface SafetensorsInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

/** One tensor read back; `data` is a view into the bytes given to `decodeSafetensors` (no copy). */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

/** Same limit as the Rust reader: refuse before allocating anything for the header. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Write tensors (in the given order, no gaps) and string metadata as a safetensors file. */
export function encodeSafetensors(tensors: SafetensorsInput[], metadata: Record<string, string>): Uint8Array {
  // Null prototype: a tensor named `__proto__` must stay an ordinary key.
  const header: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const names = new Set<string>();
  // Key order is fixed (metadata first, then tensors in order) so the same input gives the same bytes.
  header[METADATA_KEY] = Object.fromEntries(
    Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') throw new RwsError('signature-format', `metadata "${k}": value must be a string, got ${typeof v}`, { field: k });
      return [k, v];
    }),
  );
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY) throw new RwsError('signature-format', `tensor name "${METADATA_KEY}" is reserved`, { field: t.name });
    if (names.has(t.name)) throw new RwsError('signature-format', `tensor "${t.name}" appears twice`, { field: t.name });
    names.add(t.name);
    const size = SAFETENSORS_DTYPE_SIZE[t.dtype];
    if (size === undefined) throw new RwsError('signature-format', `tensor "${t.name}": unknown dtype ${String(t.dtype)}`, { field: t.name });
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RwsError('signature-format', `tensor "${t.name}": shape [${t.shape.join(', ')}] is not a list of non-negative integers`, { field: t.name });
    }
    const bytes = elementCount(t.shape) * size;
    if (bytes !== t.data.byteLength) {
      throw new RwsError('signature-format', `tensor "${t.name}": ${t.data.byteLength} bytes given, shape [${t.shape.join(', ')}] of ${t.dtype} needs ${bytes}`, { field: t.name });
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.byteLength % 8)) % 8;
  const headerLen = json.byteLength + pad;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLen);
  let at = 8 + headerLen;
  for (const t of tensors) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** A JSON number written with a fraction or exponent: never a valid shape or offset (serde's usize refuses it). */
class JsonFloat {
  constructor(readonly value: number) {}
}

/**
 * Parse JSON text that `JSON.parse` already accepted, keeping what it hides: repeated keys (an
 * error naming the key and where) and number literals that are not integers (`JsonFloat`).
 */
function parseHeaderJson(text: string): unknown {
  let i = 0;
  const number = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const skip = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (where: string): unknown => {
    skip();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      skip();
      if (text[i] === '}') return i++, obj;
      for (;;) {
        skip();
        const key = string();
        if (Object.hasOwn(obj, key)) throw new Error(`key "${key}" appears twice in ${where}`);
        skip();
        i++; // ':'
        Object.defineProperty(obj, key, { value: value(where === 'the header' ? `"${key}"` : `${where}."${key}"`), enumerable: true, writable: true, configurable: true });
        skip();
        if (text[i++] === '}') return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skip();
      if (text[i] === ']') return i++, arr;
      for (;;) {
        arr.push(value(where));
        skip();
        if (text[i++] === ']') return arr;
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    number.lastIndex = i;
    const m = number.exec(text)!;
    i += m[0].length;
    return m[1] !== undefined || m[2] !== undefined ? new JsonFloat(Number(m[0])) : Number(m[0]);
  };
  return value('the header');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof JsonFloat) return 'number';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Read a safetensors file, validating what the Rust/Python reader validates: header length, UTF-8,
 * JSON starting with `{`, known dtypes, integer shapes and offsets, offsets contiguous from 0 with no
 * overlap, byte size = elements × dtype size, buffer fully covered, metadata values strings. Stricter
 * in one way: a key repeated anywhere in the header is refused (the Rust reader keeps the last
 * tensor or metadata entry of that name). Errors name `file` and the tensor or field.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  file: string,
): { metadata: Record<string, string>; tensors: Map<string, SafetensorsTensor> } {
  const fail = (msg: string, field?: string): never => {
    throw new RwsError('signature-format', `${file}: ${msg}`, { file, field });
  };
  if (bytes.byteLength < 8) fail(`only ${bytes.byteLength} bytes; a safetensors file starts with an 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) fail(`header length ${n} runs past the end of the file (${bytes.byteLength} bytes)`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header does not start with "{"');
  let header: unknown;
  try {
    JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  try {
    header = parseHeaderJson(text);
  } catch (e) {
    return fail(`header is ambiguous: ${(e as Error).message}`);
  }
  if (!isObject(header)) return fail('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const rawMeta = header[METADATA_KEY];
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isObject(rawMeta)) fail(`"${METADATA_KEY}" is not an object of strings`, METADATA_KEY);
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      // Python's reader rejects nested values; nested data goes in as JSON text.
      if (typeof v !== 'string') fail(`metadata "${k}" is ${describe(v)}, must be a string`, k);
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  const infos: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    if (!isObject(info)) return fail(`tensor "${name}": entry is not an object`, name);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !Object.hasOwn(SAFETENSORS_DTYPE_SIZE, dtype)) {
      fail(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`, name);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor "${name}": shape must be a list of non-negative integers`, name);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      fail(`tensor "${name}": data_offsets must be [begin, end], non-negative integers`, name);
    }
    const [begin, end] = offsets as [number, number];
    infos.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }
  // The Rust reader checks in offset order, whatever order the header lists them in.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);

  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let expected = 0;
  for (const t of infos) {
    if (t.begin !== expected || t.end < t.begin) {
      fail(`tensor "${t.name}": data_offsets [${t.begin}, ${t.end}] ${t.begin > expected ? `leave a gap after byte ${expected}` : t.end < t.begin ? 'end before they begin' : `overlap the previous tensor (ends at ${expected})`}`, t.name);
    }
    const count = elementCount(t.shape);
    const size = count * SAFETENSORS_DTYPE_SIZE[t.dtype];
    if (!Number.isSafeInteger(size)) fail(`tensor "${t.name}": shape [${t.shape.join(', ')}] is too large`, t.name);
    if (t.end - t.begin !== size) {
      fail(`tensor "${t.name}": shape [${t.shape.join(', ')}] of ${t.dtype} needs ${size} bytes, data_offsets give ${t.end - t.begin}`, t.name);
    }
    if (t.end > dataLen) fail(`tensor "${t.name}": data_offsets [${t.begin}, ${t.end}] run past the end of the file (${dataLen} data bytes)`, t.name);
    expected = t.end;
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: bytes.subarray(dataStart + t.begin, dataStart + t.end) });
  }
  if (expected !== dataLen) fail(`tensors cover ${expected} data bytes but the file has ${dataLen} after the header`);
  return { metadata, tensors };
}
