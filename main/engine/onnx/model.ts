// Reading, inspecting and rewriting ONNX models: the one place that knows the protobuf layout.
import { float16ToFloat32, float32ToFloat16 } from '../../core/float16.js';
import * as path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { MAX_MODEL_BYTES } from '../../core/limits.js';
import { openRegular, readRange, readRegularFile, readRegularRangeSync, realFolder, realPathWithin, realPathWithinSync, type ReadWhat } from '../io/regular-file.js';
import { realpathSync } from 'node:fs';
import {
  DataType,
  decodeModelProto,
  encodeModelProto,
  toNumber,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';
import { buildIndex, nodeName, type GraphIndex } from './graph.js';

export { intAttr, nodeName } from './graph.js';
export type { BatchNormRef, Layer, LayerTensor } from './layers.js';
import { findLayers, type Layer } from './layers.js';

/** One node that reads an initializer. `node` is the node's name, or `OP@INDEX` when it has none. */
export interface InitializerConsumer {
  node: string;
  op: string;
  inputIndex: number;
  /** Position of the node in topological order. */
  nodeIndex: number;
}

/** An initializer (weight tensor) and the nodes that read it. */
export interface InitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  consumers: InitializerConsumer[];
}

/** A graph input or output; symbolic dims are strings, unknown dims `'?'`. */
export interface ValueInfo {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

/** Where the model came from, for error messages and external data. */
export interface OnnxSource {
  file: string;
  /** Folder that external data locations are relative to; without it external data is refused. */
  dir?: string;
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/** A parsed ONNX model; weights can be read as f32 and replaced, and the model re-encoded. */
export class OnnxModel {
  /** The decoded ModelProto, for advanced use; structural edits need a fresh OnnxModel. */
  readonly proto: ModelProto;
  readonly file: string;
  readonly dir?: string;
  private readonly tensors = new Map<string, TensorProto>();
  /** Bytes of externally stored tensors, by tensor name. */
  private readonly external = new Map<string, Uint8Array>();
  private index?: GraphIndex;
  private layerList?: Layer[];

  constructor(proto: ModelProto, where: OnnxSource, external: Map<string, Uint8Array> = new Map()) {
    this.proto = proto;
    this.file = where.file;
    this.dir = where.dir;
    for (const t of this.graph.initializer) this.tensors.set(t.name, t);
    for (const [k, v] of external) this.external.set(k, v);
  }

  get graph(): GraphProto {
    return this.proto.graph as GraphProto;
  }

  /** Graph inputs that are real inputs (older exporters also list initializers as inputs). */
  get inputs(): ValueInfo[] {
    return this.graph.input.filter((v) => !this.tensors.has(v.name)).map(valueInfo);
  }

  get outputs(): ValueInfo[] {
    return this.graph.output.map(valueInfo);
  }

  /** The batch size the first input is fixed to, or undefined when its batch dimension is free. */
  maxBatch(): number | undefined {
    const first = this.inputs[0]?.dims[0];
    return typeof first === 'number' && first > 0 ? first : undefined;
  }

  /** True when `name` is an initializer of the main graph. */
  hasInitializer(name: string): boolean {
    return this.tensors.has(name);
  }

  /** The TensorProto of an initializer (as stored: raw, typed or external). */
  tensor(name: string): TensorProto {
    const t = this.tensors.get(name);
    if (!t) throw new RwsError('onnx-tensor', `${this.file}: no initializer named "${name}"`, { file: this.file, field: name });
    return t;
  }

  /** Initializers ordered by their first reader in topological order (unread ones last, in file order). */
  initializers(): InitializerInfo[] {
    const idx = this.graphIndex();
    const infos = this.graph.initializer.map((t, fileOrder) => {
      const consumers = (idx.consumers.get(t.name) ?? []).map(({ node, inputIndex }) => {
        const nodeIndex = idx.position.get(node)!;
        return { node: nodeName(node, nodeIndex), op: node.op_type, inputIndex, nodeIndex };
      });
      consumers.sort((a, b) => a.nodeIndex - b.nodeIndex || a.inputIndex - b.inputIndex);
      const info: InitializerInfo = { name: t.name, dims: t.dims.map(toNumber), dataType: t.data_type, consumers };
      const first = consumers[0];
      return { info, first: first ? first.nodeIndex : Infinity, slot: first ? first.inputIndex : 0, fileOrder };
    });
    infos.sort((a, b) => a.first - b.first || a.slot - b.slot || a.fileOrder - b.fileOrder);
    return infos.map((x) => x.info);
  }

  /** The layers (weight tensors grouped by the node reading them), in topological order; see layers.ts. */
  layers(): Layer[] {
    this.layerList ??= findLayers(
      this.graphIndex(),
      new Map(this.graph.initializer.map((t) => [t.name, { dims: t.dims.map(toNumber), dataType: t.data_type }])),
    );
    return this.layerList;
  }

  /** The values of a float initializer as f32 (a fresh copy), however the file stores them. */
  floats(name: string): Float32Array {
    const t = this.tensor(name);
    const n = elementCount(t);
    const bytes = this.storedBytes(t);
    let out: Float32Array;
    switch (t.data_type) {
      case DataType.FLOAT:
        out = bytes ? f32FromBytes(bytes) : Float32Array.from(t.float_data);
        break;
      case DataType.DOUBLE:
        out = bytes ? Float32Array.from(f64FromBytes(bytes)) : Float32Array.from(t.double_data);
        break;
      case DataType.FLOAT16:
        out = float16ToFloat32(bytes ? u16FromBytes(bytes) : Uint16Array.from(t.int32_data));
        break;
      case DataType.BFLOAT16:
        out = bfloatToFloat(bytes ? u16FromBytes(bytes) : Uint16Array.from(t.int32_data));
        break;
      default:
        throw new RwsError('onnx-type', `${this.file}: initializer "${name}" has data type ${t.data_type}, not a float type`, { file: this.file, field: name });
    }
    if (out.length !== n) {
      throw new RwsError('onnx-format', `${this.file}: initializer "${name}" holds ${out.length} values, its dims [${t.dims.map(toNumber)}] say ${n}`, { file: this.file, field: name });
    }
    return out;
  }

  /**
   * Replace an initializer's values; stored as raw_data in the tensor's own float type (f32 for
   * FLOAT), and any other storage (typed fields, external data) is cleared.
   */
  setFloats(name: string, values: Float32Array): void {
    const t = this.tensor(name);
    const n = elementCount(t);
    if (values.length !== n) {
      throw new RwsError('onnx-tensor', `${this.file}: initializer "${name}" has ${n} values, got ${values.length}`, { file: this.file, field: name });
    }
    let raw: Uint8Array;
    switch (t.data_type) {
      case DataType.FLOAT:
        raw = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
        break;
      case DataType.DOUBLE:
        raw = new Uint8Array(Float64Array.from(values).buffer);
        break;
      case DataType.FLOAT16:
        raw = new Uint8Array(float32ToFloat16(values).buffer);
        break;
      case DataType.BFLOAT16:
        raw = new Uint8Array(floatToBfloat(values).buffer);
        break;
      default:
        throw new RwsError('onnx-type', `${this.file}: initializer "${name}" has data type ${t.data_type}, not a float type`, { file: this.file, field: name });
    }
    clearStorage(t);
    t.raw_data = raw;
    this.external.delete(name);
  }

  /**
   * The model as ONNX bytes. Externally stored tensors keep their references unless
   * `embedExternal` is set, which inlines them (needed for a model handed over as bytes).
   */
  encode(options: { embedExternal?: boolean } = {}): Uint8Array {
    if (!options.embedExternal || this.external.size === 0) return encodeProto(this.proto);
    const graph = clone(this.graph);
    graph.initializer = this.graph.initializer.map((t) => this.embedded(t));
    const model = clone(this.proto);
    model.graph = graph;
    return encodeProto(model);
  }

  /** A tensor with its external data (if any) inlined as raw_data; the original is left alone. */
  embedded(t: TensorProto): TensorProto {
    const bytes = this.external.get(t.name);
    if (!bytes || t.data_location !== 1) return t;
    const copy = clone(t);
    clearStorage(copy);
    copy.raw_data = bytes;
    return copy;
  }

  /** Nodes in topological order. */
  nodes(): NodeProto[] {
    return this.graphIndex().order;
  }

  /** Readers of each tensor and the producer of each tensor, over the topological order. */
  graphIndex(): GraphIndex {
    this.index ??= buildIndex(this.graph);
    return this.index;
  }

  private storedBytes(t: TensorProto): Uint8Array | undefined {
    if (t.data_location === 1) {
      const bytes = this.external.get(t.name);
      if (!bytes) throw new RwsError('onnx-external', `${this.file}: initializer "${t.name}" is stored externally and its data was not loaded (load the model from its file)`, { file: this.file, field: t.name });
      return bytes;
    }
    return t.raw_data && t.raw_data.length > 0 ? t.raw_data : undefined;
  }
}

/** Parse ONNX bytes; external data is read (synchronously) from `where.dir` when given. */
export function parseOnnx(bytes: Uint8Array, where: OnnxSource): OnnxModel {
  const proto = decodeModel(bytes, where.file);
  const external = new Map<string, Uint8Array>();
  const refs = externalRefs(proto, where);
  if (refs.length) {
    const dir = path.resolve(where.dir!);
    let root = dir;
    try {
      root = realpathSync(dir);
    } catch {
      // A folder that does not resolve: each read below says what is missing.
    }
    for (const ref of refs) {
      const w = externalWhat(ref, where.file);
      const real = realPathWithinSync(root, ref.path, w, "the model's folder");
      external.set(ref.tensor, readRegularRangeSync(real, w, (size) => externalRange(ref, size, where.file)));
    }
  }
  return new OnnxModel(proto, where, external);
}

/**
 * Check, reading none of their data, that the external data files of `model` are regular files in
 * its folder (`dir`), long enough for what each tensor's entry declares: a pack is refused at load
 * for external data it could not use, before anything is made from it.
 */
export async function checkExternalData(model: OnnxModel, dir: string): Promise<void> {
  const where = { file: model.file, dir };
  const refs = externalRefs(model.proto, where);
  if (!refs.length) return;
  const root = await realFolder(dir);
  for (const ref of refs) {
    const w = externalWhat(ref, model.file);
    const { fh, size } = await openRegular(await realPathWithin(root, ref.path, w, "the model's folder"), w);
    await fh.close();
    externalRange(ref, size, model.file);
  }
}

/** Options of `loadOnnx`. */
export interface LoadOnnxOptions {
  /** SHA-256 the model file must still have (checked when it was chosen): other bytes are refused. */
  sha256?: string;
}

/**
 * Read an .onnx file and any external data next to it (never outside its folder, links included;
 * only regular files, and only the bytes each tensor's entry declares).
 */
export async function loadOnnx(file: string, opts: LoadOnnxOptions = {}): Promise<OnnxModel> {
  const bytes = await readRegularFile(file, { what: 'the model', code: 'onnx-read', maxBytes: MAX_MODEL_BYTES, sha256: opts.sha256 });
  const where = { file, dir: path.dirname(file) };
  const proto = decodeModel(bytes, file);
  const external = new Map<string, Uint8Array>();
  const refs = externalRefs(proto, where);
  if (refs.length) {
    const root = await realFolder(where.dir);
    for (const ref of refs) {
      const w = externalWhat(ref, file);
      const { fh, size } = await openRegular(await realPathWithin(root, ref.path, w, "the model's folder"), w);
      try {
        const { offset, length } = externalRange(ref, size, file);
        external.set(ref.tensor, await readRange(fh, offset, length));
      } finally {
        await fh.close().catch(() => {});
      }
    }
  }
  return new OnnxModel(proto, where, external);
}
function decodeModel(bytes: Uint8Array, file: string): ModelProto {
  let proto: ModelProto;
  try {
    proto = decodeModelProto(bytes);
  } catch (e) {
    throw new RwsError('onnx-format', `${file}: not a valid ONNX model or truncated (${(e as Error).message})`, { file });
  }
  if (!proto.graph || toNumber(proto.ir_version) <= 0) {
    throw new RwsError('onnx-format', `${file}: not an ONNX model (no ${proto.graph ? 'ir_version' : 'graph'})`, { file });
  }
  for (const n of proto.graph.node) {
    if (!n.op_type) throw new RwsError('onnx-format', `${file}: not an ONNX model (a node has no op_type)`, { file });
  }
  return proto;
}

interface ExternalRef {
  tensor: string;
  location: string;
  path: string;
  offset: number;
  length?: number;
  /** Bytes the tensor's dims and type call for, when its type has a fixed size. */
  declared?: number;
}

/** Bytes per value of the fixed-size ONNX data types. */
const TYPE_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2 };

function externalRefs(proto: ModelProto, where: OnnxSource): ExternalRef[] {
  const refs: ExternalRef[] = [];
  // Without a folder the model can still be inspected; reading such a tensor fails then.
  if (where.dir === undefined) return refs;
  for (const t of proto.graph!.initializer) {
    if (t.data_location !== 1) continue;
    const kv = new Map(t.external_data.map((e) => [e.key, e.value]));
    const location = kv.get('location');
    const fail = (why: string): never => {
      throw new RwsError('onnx-external', `${where.file}: initializer "${t.name}": ${why}`, { file: where.file, field: t.name });
    };
    if (!location) fail('external data without a location');
    const dir = path.resolve(where.dir!);
    const full = path.resolve(dir, location!);
    const rel = path.relative(dir, full);
    if (path.isAbsolute(location!) || rel.startsWith('..') || path.isAbsolute(rel) || rel === '') {
      fail(`external data location "${location}" leaves the model's folder`);
    }
    const offset = Number(kv.get('offset') ?? 0);
    const length = kv.has('length') ? Number(kv.get('length')) : undefined;
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
      fail(`bad external data offset/length (${kv.get('offset')}, ${kv.get('length')})`);
    }
    const size = TYPE_BYTES[t.data_type];
    const declared = size === undefined ? undefined : t.dims.reduce<number>((p, d) => p * toNumber(d), size);
    refs.push({ tensor: t.name, location: location!, path: full, offset, length, ...(Number.isSafeInteger(declared) && declared! >= 0 ? { declared } : {}) });
  }
  return refs;
}

/** What reading one tensor's external data is, for messages: they name the model too. */
function externalWhat(ref: ExternalRef, file: string): ReadWhat {
  return { what: `external data of initializer "${ref.tensor}" of ${file}`, code: 'onnx-external', field: ref.tensor };
}

/**
 * The bytes of a file of `size` that a tensor's entry points at: its length, else what its dims
 * and type declare, else the rest of the file; refused when the file is too short for them.
 */
function externalRange(ref: ExternalRef, size: number, file: string): { offset: number; length: number } {
  const length = ref.length ?? ref.declared ?? Math.max(0, size - ref.offset);
  const end = ref.offset + length;
  if (end > size || ref.offset > size) {
    throw new RwsError('onnx-external', `${file}: initializer "${ref.tensor}": external data "${ref.location}" is truncated (needs bytes ${ref.offset}..${end}, has ${size})`, { file, field: ref.tensor });
  }
  return { offset: ref.offset, length };
}

/** Whether an ONNX data type is one `floats()` can read. */
export function isFloatType(dataType: number): boolean {
  return FLOAT_TYPES.has(dataType);
}

function valueInfo(v: ValueInfoProto): ValueInfo {
  const tt = v.type?.tensor_type ?? v.type?.sparse_tensor_type;
  const dims = (tt?.shape?.dim ?? []).map((d): number | string => {
    if (d.dim_param) return d.dim_param;
    return Object.prototype.hasOwnProperty.call(d, 'dim_value') ? toNumber(d.dim_value) : '?';
  });
  return { name: v.name, elemType: tt?.elem_type ?? 0, dims };
}

function elementCount(t: TensorProto): number {
  return t.dims.reduce<number>((p, d) => p * toNumber(d), 1);
}

function clearStorage(t: TensorProto): void {
  for (const k of ['float_data', 'int32_data', 'double_data', 'int64_data', 'uint64_data', 'string_data', 'external_data', 'data_location', 'raw_data'] as const) {
    delete (t as unknown as Record<string, unknown>)[k];
  }
}

/** ModelProto bytes as a plain Uint8Array (protobufjs gives a Buffer, whose slice() is a view, not a copy). */
export function encodeProto(model: ModelProto): Uint8Array {
  const buf = encodeModelProto(model);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A shallow copy of a protobufjs message that keeps its prototype (and so its defaults). */
export function clone<T extends object>(m: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(m)), m) as T;
}

function aligned(bytes: Uint8Array, size: number): ArrayBuffer {
  // Copy: raw_data is a view into the file buffer at any offset, and callers own what we return.
  const copy = new Uint8Array(bytes.length - (bytes.length % size));
  copy.set(bytes.subarray(0, copy.length));
  return copy.buffer;
}

function f32FromBytes(b: Uint8Array): Float32Array {
  return new Float32Array(aligned(b, 4));
}
function f64FromBytes(b: Uint8Array): Float64Array {
  return new Float64Array(aligned(b, 8));
}
function u16FromBytes(b: Uint8Array): Uint16Array {
  return new Uint16Array(aligned(b, 2));
}

function bfloatToFloat(h: Uint16Array): Float32Array {
  const out = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = h[i] << 16;
  return new Float32Array(out.buffer);
}

function floatToBfloat(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}
