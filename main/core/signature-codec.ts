import { RwsError } from './errors.js';
import { MAX_DELTA } from './limits.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { dequantize, packInt4, quantizeInt4, quantizeInt8, unpackInt4 } from './quantize.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput, type SafetensorsTensor } from './safetensors.js';
import type {
  ExtractionMethod,
  PatchMode,
  Quantization,
  Signature,
  SignatureMeta,
  SignatureTensor,
} from './signature.js';

/**
 * A signature on disk (`*.rws.safetensors`): tensor NAME holds the delta (F32, F16, I8, or int4
 * packed in U8), NAME.scale its per-channel f32 scales when quantized; `__metadata__` holds the
 * rest as strings (nested values as JSON text, the only thing Python's reader accepts).
 */

export const SIGNATURE_FORMAT = 'rws/1';

const QUANTS: readonly Quantization[] = ['f32', 'f16', 'int8', 'int4'];
const METHODS: readonly ExtractionMethod[] = ['projected', 'plain', 'finetune'];
const MODES: readonly PatchMode[] = ['add', 'log'];
const BATCH_NORM: readonly SignatureMeta['batchNorm'][] = ['folded', 'log-variance', 'none'];

/** Per-tensor entry of the `tensors` metadata field. */
interface TensorEntry {
  shape: number[];
  channel_axis: number;
  mode: PatchMode;
  /** How this tensor is stored; 1-D tensors (biases, BN) stay f32 under int8/int4: a scale per value would be larger. */
  quant: Quantization;
}

// Typed-array views are host-endian; every platform we target is little-endian, but say so loudly if not.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(a: Float32Array | Uint16Array | Int8Array | Uint8Array): Uint8Array {
  if (!LITTLE_ENDIAN && a.BYTES_PER_ELEMENT > 1) throw new RwsError('platform', 'signature files are little-endian; this host is big-endian');
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

// `data` may sit at any byte offset of the file buffer: copy to get an aligned array. (Buffer.slice
// is a view, not a copy, so call Uint8Array's slice: a Buffer from readFile decodes too.)
function float32Of(data: Uint8Array): Float32Array {
  if (!LITTLE_ENDIAN) throw new RwsError('platform', 'signature files are little-endian; this host is big-endian');
  return new Float32Array(Uint8Array.prototype.slice.call(data).buffer);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function storageFor(t: SignatureTensor, quant: Quantization): Quantization {
  if ((quant === 'int8' || quant === 'int4') && t.shape.length < 2) return 'f32';
  return quant;
}

function formatSeverity([lo, hi]: [number, number]): string {
  const plain = (x: number) => Number.isInteger(x) && x >= 0;
  return plain(lo) && plain(hi) ? `${lo}-${hi}` : JSON.stringify([lo, hi]);
}

/** Encode a signature as safetensors, storing its deltas as `quant` (int8/int4 per output channel). */
export function encodeSignature(sig: Signature, quant: Quantization): Uint8Array {
  if (!QUANTS.includes(quant)) throw new RwsError('signature-format', `quantization "${quant}" is not one of ${QUANTS.join(', ')}`, { field: 'quant' });
  const entries: Record<string, TensorEntry> = Object.create(null) as Record<string, TensorEntry>;
  const out: SafetensorsInput[] = [];
  const names = new Set(sig.tensors.map((t) => t.name));
  if (names.size !== sig.tensors.length) throw new RwsError('signature-format', `signature "${sig.meta.id}": a tensor name appears twice`, { field: 'tensors' });
  for (const t of sig.tensors) {
    const where = `signature "${sig.meta.id}", tensor "${t.name}"`;
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new RwsError('signature-format', `${where}: shape [${t.shape.join(', ')}] is invalid`, { field: t.name });
    if (elementCount(t.shape) !== t.values.length) {
      throw new RwsError('signature-format', `${where}: ${t.values.length} values for shape [${t.shape.join(', ')}]`, { field: t.name });
    }
    if (!MODES.includes(t.mode)) throw new RwsError('signature-format', `${where}: mode "${t.mode}" is not add or log`, { field: t.name });
    const axisOk = t.shape.length === 0 ? t.channelAxis === 0 : Number.isInteger(t.channelAxis) && t.channelAxis >= 0 && t.channelAxis < t.shape.length;
    if (!axisOk) throw new RwsError('signature-format', `${where}: channel axis ${t.channelAxis} is outside shape [${t.shape.join(', ')}]`, { field: t.name });
    for (let i = 0; i < t.values.length; i++) {
      if (!Number.isFinite(t.values[i])) throw new RwsError('signature-format', `${where}: value ${t.values[i]} at index ${i} is not finite`, { field: t.name });
    }
    const storage = storageFor(t, quant);
    entries[t.name] = { shape: [...t.shape], channel_axis: t.channelAxis, mode: t.mode, quant: storage };
    if (storage === 'f32') {
      out.push({ name: t.name, dtype: 'F32', shape: t.shape, data: bytesOf(t.values) });
    } else if (storage === 'f16') {
      const h = float32ToFloat16(t.values);
      const i = h.findIndex((b) => (b & 0x7c00) === 0x7c00);
      if (i >= 0) throw new RwsError('signature-format', `${where}: value ${t.values[i]} at index ${i} is too large for f16`, { field: t.name });
      out.push({ name: t.name, dtype: 'F16', shape: t.shape, data: bytesOf(h) });
    } else {
      const scaleName = `${t.name}.scale`;
      if (names.has(scaleName)) {
        throw new RwsError('signature-format', `${where}: its scales would be stored as "${scaleName}", which is also a tensor of the signature`, { field: t.name });
      }
      const { q, scales } = storage === 'int8' ? quantizeInt8(t.values, t.shape, t.channelAxis) : quantizeInt4(t.values, t.shape, t.channelAxis);
      if (storage === 'int8') out.push({ name: t.name, dtype: 'I8', shape: t.shape, data: bytesOf(q) });
      else out.push({ name: t.name, dtype: 'U8', shape: [(q.length + 1) >> 1], data: packInt4(q) });
      out.push({ name: scaleName, dtype: 'F32', shape: [scales.length], data: bytesOf(scales) });
    }
  }
  const m = sig.meta;
  const sortedHashes = Object.fromEntries(Object.entries(m.baseHashes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const metadata: Record<string, string> = {
    format: SIGNATURE_FORMAT,
    id: m.id,
    condition: m.condition,
    severity: formatSeverity(m.severity),
    method: m.method,
    layers: String(m.layers),
    quant,
    base_sha256: JSON.stringify(sortedHashes),
    batch_norm: m.batchNorm,
  };
  if (m.baseModel !== undefined) metadata.base_model = m.baseModel;
  if (m.effect !== undefined) metadata.effect = JSON.stringify(m.effect);
  if (m.energyShare !== undefined) metadata.energy_share = String(m.energyShare);
  if (m.description !== undefined) metadata.description = m.description;
  metadata.tensors = JSON.stringify(entries);
  return encodeSafetensors(out, metadata);
}

/** Decode a `*.rws.safetensors` file; values are dequantized to f32 here, once. Errors name `file` and the field. */
export function decodeSignature(bytes: Uint8Array, file: string): Signature {
  const { metadata, tensors } = decodeSafetensors(bytes, file);
  const fail = (field: string, msg: string): never => {
    throw new RwsError('signature-format', `${file}: ${msg}`, { file, field });
  };
  const need = (key: string): string => {
    const v = metadata[key];
    if (v === undefined) fail(key, `metadata lacks "${key}" (is this an RWS signature?)`);
    return v!;
  };
  const json = (key: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return fail(key, `metadata "${key}" is not valid JSON`);
    }
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T => {
    const v = need(key);
    if (!(allowed as readonly string[]).includes(v)) fail(key, `metadata "${key}" is "${v}", expected one of ${allowed.join(', ')}`);
    return v as T;
  };

  const format = need('format');
  if (format !== SIGNATURE_FORMAT) fail('format', `metadata "format" is "${format}"; this version reads ${SIGNATURE_FORMAT}`);
  const id = need('id');
  if (id.trim() === '') fail('id', 'metadata "id" is empty');
  const condition = need('condition');
  const severity = parseSeverity(need('severity')) ?? fail('severity', `metadata "severity" is "${metadata.severity}", expected "LO-HI" or a JSON [lo, hi]`);
  const method = oneOf('method', METHODS);
  const layersText = need('layers');
  const layers = Number(layersText);
  if (!/^\d+$/.test(layersText.trim()) || !Number.isSafeInteger(layers)) fail('layers', `metadata "layers" is "${layersText}", expected a whole number`);
  const quant = oneOf('quant', QUANTS);
  const hashes = json('base_sha256', need('base_sha256'));
  if (typeof hashes !== 'object' || hashes === null || Array.isArray(hashes)) return fail('base_sha256', 'metadata "base_sha256" must be a JSON object of tensor name -> SHA-256 hex');
  const baseHashes: Record<string, string> = {};
  for (const [k, v] of Object.entries(hashes)) {
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) fail('base_sha256', `metadata "base_sha256": "${k}" is not a lower-case SHA-256 hex string`);
    Object.defineProperty(baseHashes, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const batchNorm = oneOf('batch_norm', BATCH_NORM);

  const meta: SignatureMeta = { format: SIGNATURE_FORMAT, id, condition, severity, method, layers, quant, baseHashes, batchNorm };
  if (metadata.base_model !== undefined) meta.baseModel = metadata.base_model;
  if (metadata.effect !== undefined) {
    const effect = json('effect', metadata.effect);
    if (typeof effect !== 'object' || effect === null || Array.isArray(effect)) fail('effect', 'metadata "effect" must be a JSON object');
    meta.effect = effect as Record<string, unknown>;
  }
  if (metadata.energy_share !== undefined) {
    const e = Number(metadata.energy_share);
    if (metadata.energy_share.trim() === '' || !Number.isFinite(e)) fail('energy_share', `metadata "energy_share" is "${metadata.energy_share}", expected a number`);
    meta.energyShare = e;
  }
  if (metadata.description !== undefined) meta.description = metadata.description;

  const entries = json('tensors', need('tensors'));
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) return fail('tensors', 'metadata "tensors" must be a JSON object of tensor name -> {shape, channel_axis, mode}');
  const used = new Set<string>();
  const out: SignatureTensor[] = [];
  for (const [name, raw] of Object.entries(entries as Record<string, unknown>)) {
    const field = `tensors.${name}`;
    const bad = (msg: string): never => fail(field, `metadata "tensors", tensor "${name}": ${msg}`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('entry must be an object');
    const e = raw as Partial<Record<keyof TensorEntry, unknown>>;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) bad('"shape" must be a list of non-negative integers');
    const shape = e.shape as number[];
    const axis = e.channel_axis;
    const axisOk = typeof axis === 'number' && Number.isInteger(axis) && axis >= 0 && (shape.length === 0 ? axis === 0 : axis < shape.length);
    if (!axisOk) bad(`"channel_axis" ${JSON.stringify(axis)} is not an axis of shape [${shape.join(', ')}]`);
    if (typeof e.mode !== 'string' || !(MODES as readonly string[]).includes(e.mode)) bad(`"mode" ${JSON.stringify(e.mode)} is not add or log`);
    if (e.quant !== undefined && (typeof e.quant !== 'string' || !(QUANTS as readonly string[]).includes(e.quant))) bad(`"quant" ${JSON.stringify(e.quant)} is not one of ${QUANTS.join(', ')}`);

    const data = tensors.get(name) ?? fail(name, `tensor "${name}" is listed in metadata "tensors" but missing from the file`);
    used.add(name);
    const count = elementCount(shape);
    const storage = storageOf(data);
    if (storage === undefined) return fail(name, `tensor "${name}" is stored as ${data.dtype}; a signature stores F32, F16, I8 or U8 (int4)`);
    if (e.quant !== undefined && e.quant !== storage) fail(name, `tensor "${name}" is stored as ${data.dtype} but metadata "tensors" says ${e.quant as string}`);
    // Math.ceil, not `(count + 1) >> 1`: the shift wraps at 2^32, so a claim of 2^32 values would match 0 stored bytes.
    const expectShape = storage === 'int4' ? [Math.ceil(count / 2)] : shape;
    if (data.shape.length !== expectShape.length || data.shape.some((d, i) => d !== expectShape[i])) {
      fail(name, `tensor "${name}" has shape [${data.shape.join(', ')}], expected [${expectShape.join(', ')}] for logical shape [${shape.join(', ')}] stored as ${storage}`);
    }

    let values: Float32Array;
    if (storage === 'f32') values = float32Of(data.data);
    else if (storage === 'f16') values = float16ToFloat32(new Uint16Array(Uint8Array.prototype.slice.call(data.data).buffer));
    else {
      const scaleName = `${name}.scale`;
      if (Object.hasOwn(entries, scaleName)) fail(scaleName, `tensor "${name}" is quantized, so "${scaleName}" holds its scales, yet metadata "tensors" also lists "${scaleName}"`);
      const s = tensors.get(scaleName) ?? fail(scaleName, `tensor "${name}" is quantized (${storage}) but "${scaleName}" is missing`);
      used.add(scaleName);
      const channels = shape.length === 0 ? 1 : shape[axis as number]!;
      if (s.dtype !== 'F32' || s.shape.length !== 1 || s.shape[0] !== channels) {
        fail(scaleName, `tensor "${scaleName}" must be F32 of shape [${channels}], is ${s.dtype} [${s.shape.join(', ')}]`);
      }
      const scales = float32Of(s.data);
      const i = scales.findIndex((x) => !(Number.isFinite(x) && x >= 0));
      if (i >= 0) fail(scaleName, `tensor "${scaleName}": scale ${scales[i]} of channel ${i} is not a finite non-negative number`);
      const q = storage === 'int8' ? new Int8Array(Uint8Array.prototype.slice.call(data.data).buffer) : unpackInt4(data.data, count);
      values = dequantize(q, scales, shape, axis as number);
    }
    const i = values.findIndex((x) => !Number.isFinite(x));
    if (i >= 0) fail(name, `tensor "${name}": value ${values[i]} at index ${i} is not finite`);
    // Finite but huge (a scale of float32's largest): a patch at full strength would overflow.
    const j = values.findIndex((x) => Math.abs(x) > MAX_DELTA);
    if (j >= 0) fail(name, `tensor "${name}": value ${values[j]} at index ${j} is beyond ±${MAX_DELTA}, the most a delta may hold (a patch at full strength would overflow float32)`);
    out.push({ name, shape: [...shape], values, channelAxis: axis as number, mode: e.mode as PatchMode });
  }
  for (const name of tensors.keys()) {
    if (!used.has(name)) fail(name, `tensor "${name}" is not listed in metadata "tensors"`);
  }
  return { meta, tensors: out };
}

function storageOf(t: SafetensorsTensor): Quantization | undefined {
  switch (t.dtype) {
    case 'F32':
      return 'f32';
    case 'F16':
      return 'f16';
    case 'I8':
      return 'int8';
    case 'U8':
      return 'int4';
    default:
      return undefined;
  }
}

/** Severity range from "3", "1-5" or a JSON `[1, 5]`; undefined when unreadable. */
export function parseSeverity(text: string): [number, number] | undefined {
  const t = text.trim();
  const num = String.raw`\d+(?:\.\d+)?`;
  let m = new RegExp(`^(${num})$`).exec(t);
  if (m) return [Number(m[1]), Number(m[1])];
  m = new RegExp(`^(${num})\\s*-\\s*(${num})$`).exec(t);
  if (m) return ordered(Number(m[1]), Number(m[2]));
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return ordered(v[0] as number, v[1] as number);
  } catch {
    // not JSON either
  }
  return undefined;
}

function ordered(lo: number, hi: number): [number, number] | undefined {
  return lo <= hi ? [lo, hi] : undefined;
}
