// Splits a model into a small head that holds every patched weight and a fixed tail, so a patch
// switch rebuilds only the head's session. Weights as graph inputs would cost 12-50% per
// inference (they leave onnxruntime's fused conv path); a rebuilt head costs 1-2 ms.
import { RwsError } from '../../core/errors.js';
import { DataType, toNumber, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from './onnx-proto.js';
import { clone, encodeProto, type OnnxModel } from './model.js';
import { inferTypes, toTypeProto, type TensorType } from './shapes.js';

/** The head's ONNX bytes, re-made for new patched values by overwriting floats in place. */
export interface HeadTemplate {
  /** Head bytes with `values` for the named patched tensors; the others keep the model's values. */
  bytes(values: Map<string, Float32Array>): Uint8Array;
  /** The patched initializers, as given to splitModel. */
  readonly patched: string[];
  /** Size of the head model in bytes. */
  readonly byteLength: number;
}

/** A model cut in two: run the head, then feed `cut` (and any `tailInputs` from the caller) to the tail. */
export interface ModelSplit {
  headTemplate: HeadTemplate;
  /** Tail ONNX bytes; empty when the head is the whole model. */
  tail: Uint8Array;
  /** Tensors the head computes and the tail reads. */
  cut: string[];
  /** The head's graph outputs: `cut`, plus any model outputs the head computes. */
  headOutputs: string[];
  /** The tail's graph inputs: `cut`, plus the model inputs the tail reads directly. */
  tailInputs: string[];
  /** The model's own outputs, by which part computes them. */
  modelOutputs: { name: string; part: 'head' | 'tail' }[];
  /** True when the patched tensors are read all over the graph, so the head is the whole model. */
  identity: boolean;
  headNodes: number;
  tailNodes: number;
}

/** True when the split is no split: the head is the whole model and there is no tail to run. */
export function splitIsIdentity(split: ModelSplit): boolean {
  return split.identity;
}

// Cheap per-element ops that follow a layer: taking them into the head lets onnxruntime fuse
// them with the conv, and moves the cut past them at no cost in cut size. `Add` is a residual
// sum: onnxruntime fuses Conv+Add+Relu into one NCHWc conv, and taking it in turns ResNet-18's
// two-tensor cut into one (patched inference 1.05× → 1.03× the plain model's CPU time).
const FOLLOWERS = new Set([
  'Add', 'BatchNormalization', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'PRelu',
]);

/** Split `model` so the head holds every node reading a `patched` initializer (see ModelSplit). */
export function splitModel(model: OnnxModel, patched: string[]): ModelSplit {
  const idx = model.graphIndex();
  const order = idx.order;
  const patchedSet = new Set(patched);
  for (const name of patched) {
    if (!model.hasInitializer(name)) {
      throw new RwsError('split-tensor', `${model.file}: cannot patch "${name}": no initializer of that name`, { file: model.file, field: name });
    }
    const t = model.tensor(name);
    if (t.data_type !== DataType.FLOAT) {
      throw new RwsError('onnx-type', `${model.file}: cannot patch "${name}": only float32 initializers can be patched (data type ${t.data_type})`, { file: model.file, field: name });
    }
  }
  const seeds = patched.flatMap((name) => (idx.consumers.get(name) ?? []).map((c) => c.node));
  if (patched.length && !seeds.length) {
    throw new RwsError('split-tensor', `${model.file}: no node reads the patched initializers ${patched.join(', ')}`, { file: model.file });
  }

  // The head: everything the patched nodes depend on (the smallest prefix of a topological order).
  const inHead = new Set<NodeProto>();
  const stack = [...seeds];
  while (stack.length) {
    const n = stack.pop()!;
    if (inHead.has(n)) continue;
    inHead.add(n);
    for (const i of n.input) {
      const p = i ? idx.producer.get(i) : undefined;
      if (p && !inHead.has(p)) stack.push(p);
    }
  }
  const graphOutputs = new Set(model.graph.output.map((o) => o.name));
  // A Constant read on both sides is copied into the tail rather than passed across the cut.
  const cutOf = (set: Set<NodeProto>): string[] => {
    const cut: string[] = [];
    for (const n of order) {
      if (!set.has(n) || isConstant(n)) continue;
      for (const o of n.output) {
        if (o && (idx.consumers.get(o) ?? []).some((c) => !set.has(c.node))) cut.push(o);
      }
    }
    return cut;
  };
  for (let grown = true; grown; ) {
    grown = false;
    const cut = cutOf(inHead);
    for (const name of cut) {
      for (const { node } of idx.consumers.get(name) ?? []) {
        if (inHead.has(node) || !FOLLOWERS.has(node.op_type) || node.input[0] !== name) continue;
        if (!node.input.every((i) => !i || !idx.producer.has(i) || inHead.has(idx.producer.get(i)!))) continue;
        const bigger = new Set(inHead).add(node);
        if (cutOf(bigger).length <= cutOf(inHead).length) {
          inHead.add(node);
          grown = true;
        }
      }
    }
  }

  const headNodes = order.filter((n) => inHead.has(n));
  const readByTail = new Set(order.filter((n) => !inHead.has(n)).flatMap((n) => n.input.filter(Boolean)));
  const tailNodes = order.filter((n) => !inHead.has(n) || (isConstant(n) && n.output.some((o) => readByTail.has(o))));
  const producedInHead = new Set(headNodes.flatMap((n) => n.output.filter(Boolean)));
  const cut = cutOf(inHead);
  const tailOutputs = model.graph.output.filter((o) => !producedInHead.has(o.name));
  const identity = tailNodes.length === 0 || tailOutputs.length === 0;
  const modelOutputs = model.graph.output.map((o) => ({
    name: o.name,
    part: (identity || producedInHead.has(o.name) ? 'head' : 'tail') as 'head' | 'tail',
  }));

  if (identity) {
    const all = order;
    const head = buildPart(model, all, model.graph.input, model.graph.output, patchedSet);
    return {
      headTemplate: makeTemplate(head, patched),
      tail: new Uint8Array(),
      cut: [],
      headOutputs: model.graph.output.map((o) => o.name),
      tailInputs: [],
      modelOutputs,
      identity: true,
      headNodes: all.length,
      tailNodes: 0,
    };
  }

  let types: Map<string, TensorType> | undefined;
  const valueInfoOf = (name: string): ValueInfoProto => {
    const known = [...model.graph.value_info, ...model.graph.output].find((v) => v.name === name && v.type?.tensor_type);
    if (known) return known;
    types ??= inferTypes(model);
    return { name, type: toTypeProto(types.get(name) ?? { elemType: DataType.FLOAT }) } as ValueInfoProto;
  };
  const headOutputNames = [...cut, ...[...graphOutputs].filter((o) => producedInHead.has(o) && !cut.includes(o))];
  const readBy = (nodes: NodeProto[]) => new Set(nodes.flatMap((n) => n.input.filter(Boolean)));
  const headReads = readBy(headNodes);
  const tailReads = readBy(tailNodes);
  const headInputs = model.graph.input.filter((v) => headReads.has(v.name));
  const tailGraphInputs = model.graph.input.filter((v) => tailReads.has(v.name) && !producedInHead.has(v.name));
  const tailInputs = [...cut.map(valueInfoOf), ...tailGraphInputs];
  const head = buildPart(model, headNodes, headInputs, headOutputNames.map(valueInfoOf), patchedSet);
  const tail = buildPart(model, tailNodes, tailInputs, tailOutputs, new Set());
  return {
    headTemplate: makeTemplate(head, patched),
    tail: encodeProto(tail),
    cut,
    headOutputs: headOutputNames,
    tailInputs: tailInputs.filter((v) => !model.hasInitializer(v.name)).map((v) => v.name),
    modelOutputs,
    identity: false,
    headNodes: headNodes.length,
    tailNodes: tailNodes.length,
  };
}

function isConstant(node: NodeProto): boolean {
  return node.op_type === 'Constant' && node.input.length === 0;
}

/** A ModelProto holding `nodes`, the initializers they read, and the given inputs and outputs. */
function buildPart(model: OnnxModel, nodes: NodeProto[], inputs: ValueInfoProto[], outputs: ValueInfoProto[], patched: Set<string>): ModelProto {
  const g = model.graph;
  const reads = new Set(nodes.flatMap((n) => n.input.filter(Boolean)));
  const produced = new Set(nodes.flatMap((n) => n.output.filter(Boolean)));
  const names = new Set([...reads, ...produced]);
  const fixed = g.initializer.filter((t) => reads.has(t.name) && !patched.has(t.name)).map((t) => model.embedded(t));
  // Patched tensors last, as raw f32, so their bytes sit at known offsets of the encoded head.
  const moving = g.initializer.filter((t) => reads.has(t.name) && patched.has(t.name)).map((t) => rawFloat(model, t));
  const outputNames = new Set(outputs.map((o) => o.name));
  const inputNames = new Set(inputs.map((i) => i.name));
  const graph: GraphProto = clone(g);
  graph.node = nodes;
  graph.initializer = [...fixed, ...moving];
  graph.input = inputs;
  graph.output = outputs;
  graph.value_info = g.value_info.filter((v) => produced.has(v.name) && !outputNames.has(v.name) && !inputNames.has(v.name));
  graph.sparse_initializer = (g.sparse_initializer as { values?: { name: string } }[]).filter((s) => s.values && reads.has(s.values.name));
  const annotations = (g as unknown as { quantization_annotation?: { tensor_name: string }[] }).quantization_annotation ?? [];
  (graph as unknown as { quantization_annotation: unknown[] }).quantization_annotation = annotations.filter((a) => names.has(a.tensor_name));
  const proto: ModelProto = clone(model.proto);
  proto.graph = graph;
  // Training info describes the whole graph; it has no meaning for a part.
  delete (proto as unknown as Record<string, unknown>).training_info;
  return proto;
}

function rawFloat(model: OnnxModel, t: TensorProto): TensorProto {
  const values = model.floats(t.name);
  return {
    name: t.name,
    dims: t.dims.map(toNumber),
    data_type: DataType.FLOAT,
    raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  } as unknown as TensorProto;
}

function makeTemplate(head: ModelProto, patched: string[]): HeadTemplate {
  return byteTemplate(encodeProto(head), patched);
}

/**
 * Encoded model bytes whose patched initializers (raw f32 data) are rewritten in place for each
 * new set of values: building a session's model from it is a copy and a few memcpys.
 */
export function byteTemplate(base: Uint8Array, patched: string[]): HeadTemplate {
  const offsets = rawDataOffsets(base, new Set(patched));
  for (const name of patched) {
    if (!offsets.has(name)) throw new Error(`model template: raw_data of "${name}" not found`);
  }
  return {
    patched: [...patched],
    byteLength: base.length,
    bytes(values: Map<string, Float32Array>): Uint8Array {
      const out = base.slice();
      for (const [name, v] of values) {
        const at = offsets.get(name);
        if (!at) throw new RwsError('split-tensor', `head template: "${name}" is not a patched tensor of this split (patched: ${patched.join(', ')})`, { field: name });
        if (v.byteLength !== at.length) {
          throw new RwsError('split-tensor', `head template: "${name}" has ${at.length / 4} values, got ${v.length}`, { field: name });
        }
        out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at.offset);
      }
      return out;
    },
  };
}

/** Where each named initializer's raw_data lies in encoded ModelProto bytes (walks the wire format). */
export function rawDataOffsets(bytes: Uint8Array, names: Set<string>): Map<string, { offset: number; length: number }> {
  const found = new Map<string, { offset: number; length: number }>();
  const graph = fieldsOf(bytes, 0, bytes.length).find((f) => f.field === 7);
  if (!graph) return found;
  const decoder = new TextDecoder();
  for (const f of fieldsOf(bytes, graph.start, graph.end)) {
    if (f.field !== 5) continue;
    let name = '';
    let raw: { start: number; end: number } | undefined;
    for (const t of fieldsOf(bytes, f.start, f.end)) {
      if (t.field === 8) name = decoder.decode(bytes.subarray(t.start, t.end));
      else if (t.field === 9) raw = t;
    }
    if (raw && names.has(name)) found.set(name, { offset: raw.start, length: raw.end - raw.start });
  }
  return found;
}

/** The length-delimited fields of one message in bytes[start, end). */
function fieldsOf(bytes: Uint8Array, start: number, end: number): { field: number; start: number; end: number }[] {
  const out: { field: number; start: number; end: number }[] = [];
  let i = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = bytes[i++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < end) {
    const key = varint();
    const wire = key % 8;
    const field = Math.floor(key / 8);
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      out.push({ field, start: i, end: i + len });
      i += len;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return out;
}
