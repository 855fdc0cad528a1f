// Reading onnxruntime's own model format (the `.ort` flatbuffer a session saves with
// `optimizedModelFilePath`): where each initializer's bytes lie, and which nodes read it. The
// in-place patcher needs exactly that: a session created from these bytes with
// `use_ort_model_bytes_for_initializers` reads its larger weights straight from the buffer.
// Schema: onnxruntime/core/flatbuffers/schema/ort.fbs (InferenceSession → Model → Graph).
import { RwsError } from '../../core/errors.js';

/** One initializer of an ORT-format model: its name, dims, type and where its raw bytes are. */
export interface OrtInitializer {
  name: string;
  dims: number[];
  /** ONNX TensorProto data type (1 = float32). */
  dataType: number;
  /** Offset of the first raw byte in the buffer; -1 when the tensor has no raw data. */
  offset: number;
  byteLength: number;
  /** Where the raw_data field's offset is stored (to point it elsewhere); -1 when absent. */
  fieldAt: number;
  /** Where the dims field's offset is stored; -1 when absent. */
  dimsAt: number;
}

/** One node of the optimized graph (only what the patcher needs). */
export interface OrtNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

/** The initializers and nodes of an ORT-format model's main graph. */
export interface OrtGraph {
  initializers: OrtInitializer[];
  nodes: OrtNode[];
  /**
   * For each value with a tensor shape in the graph's value list, where each dim's `dim_value`
   * (an int64) is stored, -1 for a dim without one: onnxruntime checks an initializer's dims
   * against them.
   */
  shapes: Map<string, number[]>;
}

/**
 * onnxruntime copies initializers of at most this many bytes out of the model bytes instead of
 * reading them in place (`fbs_raw_data->size() > 127` in its flatbuffer loader).
 */
export const ORT_ALIAS_MIN_BYTES = 128;

class Reader {
  private readonly view: DataView;
  private readonly decoder = new TextDecoder();

  constructor(
    readonly bytes: Uint8Array,
    private readonly file: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private check(at: number, size: number): void {
    if (at < 0 || at + size > this.bytes.length) throw new RwsError('onnx-format', `${this.file}: not a valid ORT-format model (offset ${at} out of range)`, { file: this.file });
  }

  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, true);
  }

  i32(at: number): number {
    this.check(at, 4);
    return this.view.getInt32(at, true);
  }

  /** Position of field `index`'s value in the table at `table`, or -1 when absent. */
  field(table: number, index: number): number {
    const vtable = table - this.i32(table);
    this.check(vtable, 4);
    const size = this.view.getUint16(vtable, true);
    const slot = 4 + 2 * index;
    if (slot + 2 > size) return -1;
    this.check(vtable + slot, 2);
    const off = this.view.getUint16(vtable + slot, true);
    return off === 0 ? -1 : table + off;
  }

  /** The table, vector or string a reference field points at, or -1. */
  ref(table: number, index: number): number {
    const at = this.field(table, index);
    return at < 0 ? -1 : at + this.u32(at);
  }

  string(table: number, index: number): string {
    const at = this.ref(table, index);
    return at < 0 ? '' : this.stringAt(at);
  }

  private stringAt(at: number): string {
    const len = this.u32(at);
    this.check(at + 4, len);
    return this.decoder.decode(this.bytes.subarray(at + 4, at + 4 + len));
  }

  /** Positions of the tables (or strings) in a vector-of-references field. */
  tables(table: number, index: number): number[] {
    const at = this.ref(table, index);
    if (at < 0) return [];
    const n = this.u32(at);
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const el = at + 4 + 4 * i;
      out.push(el + this.u32(el));
    }
    return out;
  }

  strings(table: number, index: number): string[] {
    return this.tables(table, index).map((at) => this.stringAt(at));
  }

  int64s(table: number, index: number): number[] {
    const at = this.ref(table, index);
    if (at < 0) return [];
    const n = this.u32(at);
    this.check(at + 4, 8 * n);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(Number(this.view.getBigInt64(at + 4 + 8 * i, true)));
    return out;
  }
}

/** Reads the main graph of ORT-format model bytes (refuses anything else, naming `file`). */
export function readOrtGraph(bytes: Uint8Array, file = 'model.ort'): OrtGraph {
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(4, 8)) !== 'ORTM') {
    throw new RwsError('onnx-format', `${file}: not an ORT-format model (no ORTM identifier)`, { file });
  }
  const r = new Reader(bytes, file);
  const session = r.u32(0);
  const model = r.ref(session, 1);
  const graph = model < 0 ? -1 : r.ref(model, 7);
  if (graph < 0) throw new RwsError('onnx-format', `${file}: the ORT-format model has no graph`, { file });

  const initializers = r.tables(graph, 0).map((t): OrtInitializer => {
    const fieldAt = r.field(t, 4);
    const raw = fieldAt < 0 ? -1 : fieldAt + r.u32(fieldAt);
    const dataTypeAt = r.field(t, 3);
    return {
      name: r.string(t, 0),
      dims: r.int64s(t, 2),
      dataType: dataTypeAt < 0 ? 0 : r.i32(dataTypeAt),
      offset: raw < 0 ? -1 : raw + 4,
      byteLength: raw < 0 ? 0 : r.u32(raw),
      fieldAt,
      dimsAt: r.field(t, 2),
    };
  });
  const nodes = r.tables(graph, 2).map((n): OrtNode => ({
    name: r.string(n, 0),
    domain: r.string(n, 2),
    opType: r.string(n, 5),
    inputs: r.strings(n, 8),
    outputs: r.strings(n, 9),
  }));
  const shapes = new Map<string, number[]>();
  for (const v of r.tables(graph, 1)) {
    // ValueInfo.type → TypeInfo.value (a union: type tag in slot 1, value in slot 2) → TensorTypeAndShape.shape → Shape.dim.
    const type = r.ref(v, 2);
    const tensorType = type < 0 ? -1 : r.ref(type, 2);
    const shape = tensorType < 0 ? -1 : r.ref(tensorType, 1);
    if (shape < 0) continue;
    shapes.set(
      r.string(v, 0),
      r.tables(shape, 0).map((dim) => {
        const value = r.ref(dim, 0);
        return value < 0 ? -1 : r.field(value, 1);
      }),
    );
  }
  return { initializers, nodes, shapes };
}

/** Initializer bytes placed where onnxruntime reads them fast and in place: see `liveOrtBytes`. */
export interface LiveOrtBytes {
  /** The model, in memory aligned to 64 KiB; keep it referenced while a session uses it. */
  bytes: Uint8Array;
  /** Where each initializer's data now starts in `bytes`, by name. */
  offsets: Map<string, number>;
}

/** Alignment of every moved initializer: a cache line, what MLAS's vector loads want. */
const ALIGN = 64;

// TypeScript's ES2023 lib leaves WebAssembly out; Node has it.
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer } };

const up = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * A copy of ORT-format `source` in which every initializer of more than 127 bytes, and each named
 * in `grow`, has its data moved to a 64-byte aligned place at the end (the flatbuffer's data
 * vectors are only 4-byte aligned, and a session reading its weights in place from them ran 1.1-1.5×
 * slower than onnxruntime's own aligned copies). Those in `grow` (1-D float tensors of at most 127
 * bytes) become `grow`'s number of elements, zero-padded, with their value's shape to match, so
 * that onnxruntime reads them in place too (it copies smaller ones); only for kernels that read no
 * further than they need (a Conv's bias). The copy lives in a WebAssembly.Memory, whose buffer
 * starts on a page boundary, so aligned offsets are aligned addresses.
 */
export function liveOrtBytes(source: Uint8Array, graph: OrtGraph, grow: ReadonlyMap<string, number> = new Map(), file = 'model.ort'): LiveOrtBytes {
  const moved = graph.initializers.filter((t) => t.offset >= 0 && (t.byteLength >= ORT_ALIAS_MIN_BYTES || grow.has(t.name)));
  let total = up(source.length, ALIGN);
  for (const t of moved) {
    const count = grow.get(t.name);
    total = up(total + 4, ALIGN) + Math.max(t.byteLength, (count ?? 0) * 4);
    if (count !== undefined) total = up(total + 4, 8) + 8;
  }
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(total / 65536)) });
  const bytes = new Uint8Array(memory.buffer, 0, total);
  bytes.set(source);
  const view = new DataView(memory.buffer, 0, total);
  const offsets = new Map<string, number>();
  let at = up(source.length, ALIGN);
  for (const t of moved) {
    const count = grow.get(t.name);
    const length = Math.max(t.byteLength, (count ?? 0) * 4);
    const data = up(at + 4, ALIGN);
    view.setUint32(data - 4, length, true);
    bytes.set(source.subarray(t.offset, t.offset + t.byteLength), data);
    // A flatbuffer offset counts forward from where it is stored; the end of the buffer is always ahead.
    view.setUint32(t.fieldAt, data - 4 - t.fieldAt, true);
    offsets.set(t.name, data);
    at = data + length;
    if (count === undefined) continue;
    const dimsAt = graph.shapes.get(t.name);
    if (t.dims.length !== 1 || t.dimsAt < 0 || !dimsAt || dimsAt.length !== 1 || dimsAt[0]! < 0) {
      throw new RwsError('onnx-format', `${file}: cannot widen initializer "${t.name}" (dims [${t.dims.join(', ')}])`, { file, field: t.name });
    }
    const dims = up(at + 4, 8);
    view.setUint32(dims - 4, 1, true);
    view.setBigInt64(dims, BigInt(count), true);
    view.setUint32(t.dimsAt, dims - 4 - t.dimsAt, true);
    view.setBigInt64(dimsAt[0]!, BigInt(count), true);
    at = dims + 8;
  }
  return { bytes, offsets };
}
