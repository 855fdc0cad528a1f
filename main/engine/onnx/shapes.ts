// Types of intermediate tensors, for models that carry no value_info: a cut through a graph
// becomes the next part's inputs, and onnxruntime plans (and fuses) better with known shapes.
// Covers the ops of image classifiers; anything else gets its element type and an unknown shape.
import { DataType, toNumber, type NodeProto, type TypeProto } from './onnx-proto.js';
import { intAttr, intsAttr } from './graph.js';
import type { OnnxModel } from './model.js';

/** A dim: a size, a symbolic name, or null when unknown. */
export type Dim = number | string | null;

/** Element type and shape of a tensor; `dims` undefined when even the rank is unknown. */
export interface TensorType {
  elemType: number;
  dims?: Dim[];
}

const SAME_SHAPE = new Set([
  'BatchNormalization', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu',
  'Dropout', 'Identity', 'Softmax', 'LogSoftmax', 'Neg', 'Abs', 'Sqrt', 'Exp', 'Log', 'Erf', 'Gelu', 'Mish',
  'Softplus', 'Softsign', 'LRN', 'InstanceNormalization', 'LayerNormalization', 'Reciprocal', 'Floor', 'Ceil',
  'Round', 'Sign', 'ThresholdedRelu', 'Celu', 'Shrink',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'PRelu']);
const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool']);
const GLOBAL_POOLS = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
/** Ops whose output is not of their first input's element type: what they give instead. */
const OUTPUT_TYPE: Record<string, number> = {
  Shape: DataType.INT64, Size: DataType.INT64, ArgMax: DataType.INT64, ArgMin: DataType.INT64, NonZero: DataType.INT64,
  Equal: DataType.BOOL, Greater: DataType.BOOL, GreaterOrEqual: DataType.BOOL, Less: DataType.BOOL, LessOrEqual: DataType.BOOL,
  Not: DataType.BOOL, And: DataType.BOOL, Or: DataType.BOOL, Xor: DataType.BOOL, IsNaN: DataType.BOOL, IsInf: DataType.BOOL,
};
/** Second outputs that are indices (TopK's, MaxPool's). */
const INDEX_OUTPUTS = new Set(['TopK', 'MaxPool']);

/** Types of every tensor the model's value_info, inputs, outputs and initializers name, plus what can be inferred. */
export function inferTypes(model: OnnxModel): Map<string, TensorType> {
  const types = new Map<string, TensorType>();
  const g = model.graph;
  for (const t of g.initializer) types.set(t.name, { elemType: t.data_type, dims: t.dims.map(toNumber) });
  for (const v of [...g.input, ...g.value_info, ...g.output]) {
    const t = fromTypeProto(v.type);
    if (t && !types.has(v.name)) types.set(v.name, t);
  }
  const ints = new Map<string, number[]>();
  for (const t of g.initializer) {
    if (t.data_type === DataType.INT64 && t.dims.length === 1) {
      ints.set(t.name, t.int64_data.length ? t.int64_data.map(toNumber) : Array.from(new BigInt64Array(alignedCopy(t.raw_data)), Number));
    }
  }
  for (const node of model.nodes()) {
    const inputs = node.input.map((n) => (n ? types.get(n) : undefined));
    let out: TensorType | undefined;
    try {
      out = inferNode(node, inputs, ints);
    } catch {
      out = undefined;
    }
    const fallback = outputElemType(node, inputs) ?? DataType.FLOAT;
    node.output.forEach((name, i) => {
      if (!name || types.has(name)) return;
      if (i === 0 && out) types.set(name, out);
      else if (i === 0) types.set(name, { elemType: fallback });
      else if (i === 1 && INDEX_OUTPUTS.has(node.op_type)) types.set(name, { elemType: DataType.INT64 });
    });
  }
  return types;
}

/** A TensorType as an ONNX TypeProto (plain object, for protobufjs). */
export function toTypeProto(t: TensorType): TypeProto {
  const tensor: Record<string, unknown> = { elem_type: t.elemType };
  if (t.dims) {
    tensor.shape = {
      dim: t.dims.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})),
    };
  }
  return { tensor_type: tensor } as unknown as TypeProto;
}

function fromTypeProto(tp: TypeProto | null | undefined): TensorType | undefined {
  const tt = tp?.tensor_type;
  if (!tt) return undefined;
  if (!tt.shape) return { elemType: tt.elem_type };
  const dims = tt.shape.dim.map((d): Dim => {
    if (d.dim_param) return d.dim_param;
    return Object.prototype.hasOwnProperty.call(d, 'dim_value') ? toNumber(d.dim_value) : null;
  });
  return { elemType: tt.elem_type, dims };
}

/** The type of a Constant node's value (tensor, or one of the scalar and list attributes). */
function constantType(node: NodeProto): TensorType | undefined {
  const a = node.attribute[0];
  if (!a) return undefined;
  if (a.t) return { elemType: a.t.data_type, dims: a.t.dims.map(toNumber) };
  if (a.name === 'value_float') return { elemType: DataType.FLOAT, dims: [] };
  if (a.name === 'value_int') return { elemType: DataType.INT64, dims: [] };
  if (a.name === 'value_floats') return { elemType: DataType.FLOAT, dims: [a.floats.length] };
  if (a.name === 'value_ints') return { elemType: DataType.INT64, dims: [a.ints.length] };
  return undefined;
}

/** The element type of a node's first output, from its op and inputs (undefined when unknown). */
function outputElemType(node: NodeProto, inputs: (TensorType | undefined)[]): number | undefined {
  const op = node.op_type;
  return OUTPUT_TYPE[op] ?? (op === 'Where' || op === 'CastLike' ? inputs[1]?.elemType : inputs[0]?.elemType);
}

function inferNode(node: NodeProto, inputs: (TensorType | undefined)[], ints: Map<string, number[]>): TensorType | undefined {
  const op = node.op_type;
  if (op === 'Constant') return constantType(node);
  if (op === 'ConstantOfShape') {
    const value = node.attribute.find((a) => a.name === 'value')?.t;
    return { elemType: value ? value.data_type : DataType.FLOAT };
  }
  const x = inputs[0];
  if (!x) return undefined;
  const elemType = outputElemType(node, inputs) ?? x.elemType;
  if (op === 'Cast') return { elemType: intAttr(node, 'to', elemType), dims: x.dims };
  if (SAME_SHAPE.has(op)) return { elemType, dims: x.dims };
  if (!x.dims) return { elemType };
  const dims = x.dims;
  if (BROADCAST.has(op)) {
    let out: Dim[] = dims;
    for (const other of inputs.slice(1)) {
      if (!other?.dims) return { elemType };
      out = broadcast(out, other.dims);
    }
    return { elemType, dims: out };
  }
  if (GLOBAL_POOLS.has(op)) return { elemType, dims: [dims[0], dims[1], ...dims.slice(2).map(() => 1)] };
  if (op === 'Conv' || POOLS.has(op)) {
    let channels: Dim = dims[1];
    let kernel = intsAttr(node, 'kernel_shape');
    if (op === 'Conv') {
      const w = inputs[1]?.dims;
      if (!w) return { elemType };
      channels = w[0];
      if (!kernel.length) kernel = w.slice(2).map((d) => (typeof d === 'number' ? d : NaN));
    }
    const spatial = dims.slice(2).map((d, i) => windowOut(node, d, i, kernel[i], dims.length - 2));
    return { elemType, dims: [dims[0], channels, ...spatial] };
  }
  if (op === 'Flatten') {
    let axis = intAttr(node, 'axis', 1);
    if (axis < 0) axis += dims.length;
    return { elemType, dims: [product(dims.slice(0, axis)), product(dims.slice(axis))] };
  }
  if (op === 'Gemm') {
    const b = inputs[1]?.dims;
    if (!b || dims.length !== 2 || b.length !== 2) return { elemType };
    const m = intAttr(node, 'transA', 0) ? dims[1] : dims[0];
    const n = intAttr(node, 'transB', 0) ? b[0] : b[1];
    return { elemType, dims: [m, n] };
  }
  if (op === 'MatMul') {
    const b = inputs[1]?.dims;
    if (!b || b.length !== 2 || dims.length < 2) return { elemType };
    return { elemType, dims: [...dims.slice(0, -1), b[1]] };
  }
  if (op === 'Concat') {
    let axis = intAttr(node, 'axis', 0);
    if (axis < 0) axis += dims.length;
    const all = inputs.map((t) => t?.dims);
    if (all.some((d) => !d || d.length !== dims.length)) return { elemType };
    const out = dims.slice();
    out[axis] = product(all.map((d) => d![axis]), true);
    return { elemType, dims: out };
  }
  if (op === 'Reshape') {
    const shape = ints.get(node.input[1]);
    if (!shape) return { elemType };
    const out: Dim[] = shape.map((s, i) => (s === 0 ? dims[i] : s === -1 ? null : s));
    const known = product(dims);
    const rest = product(out.filter((d) => d !== null));
    const minus = out.indexOf(null);
    if (minus >= 0 && typeof known === 'number' && typeof rest === 'number') out[minus] = known / rest;
    return { elemType, dims: out };
  }
  return { elemType };
}

function strAttr(node: NodeProto, name: string): string {
  const a = node.attribute.find((x) => x.name === name);
  return a?.s ? new TextDecoder().decode(a.s) : '';
}

function windowOut(node: NodeProto, d: Dim, i: number, k: number | undefined, rank: number): Dim {
  if (typeof d !== 'number' || k === undefined || Number.isNaN(k)) return null;
  const stride = intsAttr(node, 'strides')[i] ?? 1;
  const dilation = intsAttr(node, 'dilations')[i] ?? 1;
  const autoPad = strAttr(node, 'auto_pad');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / stride);
  const pads = autoPad === 'VALID' ? [] : intsAttr(node, 'pads');
  const span = d + (pads[i] ?? 0) + (pads[i + rank] ?? 0) - ((k - 1) * dilation + 1);
  const ceil = POOLS.has(node.op_type) && intAttr(node, 'ceil_mode', 0) === 1;
  return (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
}

/** Product of dims; one dim stays itself (symbolic or not); any unknown makes the result unknown. */
function product(dims: Dim[], sum = false): Dim {
  if (dims.length === 1) return dims[0];
  if (dims.some((d) => typeof d !== 'number')) return null;
  return (dims as number[]).reduce((a, b) => (sum ? a + b : a * b), sum ? 0 : 1);
}

function broadcast(a: Dim[], b: Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === y ? x : typeof x === 'number' ? x : typeof y === 'number' ? y : null);
  }
  return out;
}

function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length - (bytes.length % 8));
  copy.set(bytes.subarray(0, copy.length));
  return copy.buffer;
}
