// What counts as a layer of a model: every weight tensor a trained network carries, grouped by the
// node that reads it, in graph order. Exporters do not hand weights to their layers directly:
// torch keeps a Linear's weight behind a Transpose when constant folding is off, merges equal
// initializers behind Identity nodes, and stores normalisation scales, class tokens, position
// embeddings and layer scales as plain initializers. A layer the list misses is energy a signature
// silently drops, so anything that reads a trainable float initializer ends up in some layer.
import type { PatchMode } from '../../core/signature.js';
import { intAttr, intsAttr, nodeName, type GraphIndex } from './graph.js';
import { DataType, type NodeProto } from './onnx-proto.js';

/** What a tensor is to its layer. */
export type TensorRole = 'weight' | 'bias' | 'scale' | 'shift' | 'mean' | 'var' | 'param';

/** One initializer of a layer, as a signature patches it. */
export interface LayerTensor {
  name: string;
  role: TensorRole;
  /** The initializer's stored shape. */
  shape: number[];
  /** Axis of the stored tensor that indexes output channels (per-channel quantization scales). */
  channelAxis: number;
  /** `log` for BatchNorm variances (patched in log space, so they stay positive). */
  mode: PatchMode;
  /** Ops between the initializer and the layer's node (`Transpose`, `Identity`...), when any. */
  via?: string[];
  /** The element type as stored (1 = float32; only float32 tensors can be patched). */
  dataType: number;
}

/** A BatchNormalization that reads a layer's output directly: its four parameter initializers. */
export interface BatchNormRef {
  scale: string;
  bias: string;
  mean: string;
  var: string;
  /** The BatchNormalization node's name (or `OP@INDEX`). */
  node: string;
}

/**
 * A layer: a node that reads trainable weights, with every tensor it owns. `weight` kinds are
 * Conv, ConvTranspose, Gemm and MatMul (with their bias, and a BatchNorm reading their output);
 * `norm` kinds are normalisations standing alone; `param` kinds are other nodes reading a weight
 * (a layer scale's Mul, a position embedding's Add, a class token's Expand or Concat).
 */
export interface Layer {
  /** Position among layers, in topological order. */
  index: number;
  /** The node's own name (torch exports carry module paths such as `/features/0/0/Conv`). */
  node: string;
  op: string;
  kind: 'weight' | 'norm' | 'param';
  /** The layer's main tensor. */
  weight: string;
  bias?: string;
  batchNorm?: BatchNormRef;
  /** Axis of `weight` (as stored) that indexes output channels. */
  channelAxis: number;
  /** Position of the layer's node in topological order. */
  nodeIndex: number;
  /** `weight`'s stored shape. */
  shape: number[];
  /** Conv and ConvTranspose: groups (the channel count for a depthwise conv). */
  groups?: number;
  /** Conv and ConvTranspose: kernel size per spatial axis. */
  kernel?: number[];
  /** Conv and ConvTranspose: stride per spatial axis. */
  stride?: number[];
  /** Every tensor of the layer, the weight first. */
  tensors: LayerTensor[];
}

/** What layer listing needs of an initializer. */
export interface InitializerShape {
  dims: number[];
  dataType: number;
}

const WEIGHT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
/** Normalisations and the input slots of their parameters, by role. */
const NORM_PARAMS: Record<string, [TensorRole, number][]> = {
  BatchNormalization: [['scale', 1], ['shift', 2], ['mean', 3], ['var', 4]],
  LayerNormalization: [['scale', 1], ['shift', 2]],
  InstanceNormalization: [['scale', 1], ['shift', 2]],
  GroupNormalization: [['scale', 1], ['shift', 2]],
  SkipLayerNormalization: [['scale', 2], ['shift', 3]],
};
/** Ops that pass a weight on unchanged in value (only its layout or name changes). */
const WEIGHT_PATH_OPS = new Set(['Identity', 'Transpose', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Cast']);
const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/** Where a node input's value comes from when it is a weight: the initializer and the ops on the way. */
interface WeightSource {
  name: string;
  via: NodeProto[];
}

/** The layers of a graph, in topological order (see Layer). */
export function findLayers(idx: GraphIndex, initializers: ReadonlyMap<string, InitializerShape>): Layer[] {
  const claimed = new Set<string>();
  const layers: Layer[] = [];

  const isConstant = (name: string): boolean => {
    if (!name || initializers.has(name)) return true;
    const p = idx.producer.get(name);
    return p !== undefined && p.op_type === 'Constant';
  };
  const source = (name: string | undefined, depth = 0): WeightSource | undefined => {
    if (!name || depth > 16) return undefined;
    const init = initializers.get(name);
    if (init) return FLOAT_TYPES.has(init.dataType) ? { name, via: [] } : undefined;
    const p = idx.producer.get(name);
    if (!p || !WEIGHT_PATH_OPS.has(p.op_type) || (p.domain && p.domain !== 'ai.onnx')) return undefined;
    if (!p.input.slice(1).every(isConstant)) return undefined;
    const inner = source(p.input[0], depth + 1);
    return inner && { name: inner.name, via: [...inner.via, p] };
  };
  /** A layer tensor for `src`, its channel axis mapped back through any Transposes on the way. */
  const tensor = (src: WeightSource, role: TensorRole, effectiveAxis: number, mode: PatchMode = 'add'): LayerTensor => {
    const init = initializers.get(src.name)!;
    let axis = effectiveAxis;
    for (let i = src.via.length - 1; i >= 0 && axis >= 0; i--) {
      const op = src.via[i]!;
      if (op.op_type === 'Transpose') {
        const perm = intsAttr(op, 'perm');
        axis = perm.length ? (perm[axis] ?? -1) : init.dims.length - 1 - axis;
      } else if (op.op_type !== 'Identity' && op.op_type !== 'Cast') axis = -1;
    }
    if (axis < 0 || axis >= init.dims.length) axis = 0;
    const t: LayerTensor = { name: src.name, role, shape: init.dims.slice(), channelAxis: axis, mode, dataType: init.dataType };
    if (src.via.length) t.via = src.via.map((n) => n.op_type);
    return t;
  };
  const free = (src: WeightSource | undefined): src is WeightSource => src !== undefined && !claimed.has(src.name);
  const push = (node: NodeProto, nodeIndex: number, kind: Layer['kind'], tensors: LayerTensor[], extra: Partial<Layer> = {}) => {
    for (const t of tensors) claimed.add(t.name);
    const main = tensors[0]!;
    layers.push({
      index: layers.length,
      node: nodeName(node, nodeIndex),
      op: node.op_type,
      kind,
      weight: main.name,
      channelAxis: main.channelAxis,
      nodeIndex,
      shape: main.shape,
      ...extra,
      tensors,
    });
  };

  idx.order.forEach((node, nodeIndex) => {
    const op = node.op_type;
    const standard = !node.domain || node.domain === 'ai.onnx';
    if (standard && WEIGHT_OPS.has(op)) {
      const found = weightLayer(node, nodeIndex);
      if (found) return push(node, nodeIndex, 'weight', found.tensors, found.extra);
    }
    const norm = NORM_PARAMS[op];
    if (norm) {
      const tensors = norm.flatMap(([role, slot]) => {
        const src = source(node.input[slot]);
        return free(src) ? [tensor(src, role, 0, role === 'var' ? 'log' : 'add')] : [];
      });
      if (tensors.length) return push(node, nodeIndex, 'norm', tensors);
    }
    // A node on a weight's way to its reader is not a layer: the reader is.
    if (WEIGHT_PATH_OPS.has(op) && source(node.output[0])) return;
    const params = node.input.flatMap((name) => {
      const src = source(name);
      if (!free(src)) return [];
      const dims = initializers.get(src.name)!.dims;
      // Single numbers are the graph's constants (a GELU's 0.5, an attention's 1/√d), not weights.
      return dims.reduce((a, b) => a * b, 1) >= 2 ? [tensor(src, 'param', 0)] : [];
    });
    if (params.length) push(node, nodeIndex, 'param', params);
  });
  return layers;

  function weightLayer(node: NodeProto, nodeIndex: number): { tensors: LayerTensor[]; extra: Partial<Layer> } | undefined {
    const op = node.op_type;
    let w = source(node.input[1]);
    let axis: number;
    if (op === 'Conv') axis = 0;
    else if (op === 'ConvTranspose') axis = 1;
    else if (op === 'Gemm') axis = intAttr(node, 'transB', 0) ? 0 : 1;
    else {
      // MatMul: y = x·W reads output channels along W's last axis; a weight on the left (W·x) along its first.
      const rank = w ? effectiveRank(w) : -1;
      axis = rank > 0 ? rank - 1 : 0;
      if (!w) {
        w = source(node.input[0]);
        axis = 0;
        if (w && initializers.get(w.name)!.dims.length < 2) return undefined;
      }
    }
    if (!free(w)) return undefined;
    const tensors = [tensor(w, 'weight', axis)];
    let bias: WeightSource | undefined;
    if (op === 'MatMul') bias = addedBias(node);
    else if (node.input[2]) bias = source(node.input[2]);
    if (free(bias) && bias.name !== w.name) tensors.push(tensor(bias, 'bias', 0));
    const extra: Partial<Layer> = {};
    if (tensors[1]) extra.bias = tensors[1].name;
    const bn = followingBatchNorm(node);
    if (bn) {
      const sources = [1, 2, 3, 4].map((slot) => source(bn.input[slot]));
      if (sources.every(free) && new Set(sources.map((s) => s!.name)).size === 4 && !sources.some((s) => tensors.some((t) => t.name === s!.name))) {
        const [scale, shift, mean, variance] = sources as WeightSource[];
        tensors.push(tensor(scale!, 'scale', 0), tensor(shift!, 'shift', 0), tensor(mean!, 'mean', 0), tensor(variance!, 'var', 0, 'log'));
        extra.batchNorm = { scale: scale!.name, bias: shift!.name, mean: mean!.name, var: variance!.name, node: nodeName(bn, idx.position.get(bn)!) };
      }
    }
    if (op === 'Conv' || op === 'ConvTranspose') {
      const dims = initializers.get(w.name)!.dims;
      extra.groups = intAttr(node, 'group', 1);
      const kernel = intsAttr(node, 'kernel_shape');
      extra.kernel = kernel.length ? kernel : dims.slice(2);
      const strides = intsAttr(node, 'strides');
      extra.stride = strides.length ? strides : dims.slice(2).map(() => 1);
    }
    return { tensors, extra };
  }

  /** The rank of a weight as its reader sees it (through Transposes and Identities; unknown otherwise). */
  function effectiveRank(src: WeightSource): number {
    const rank = initializers.get(src.name)!.dims.length;
    return src.via.every((n) => n.op_type === 'Transpose' || n.op_type === 'Identity' || n.op_type === 'Cast') ? rank : -1;
  }

  /** A MatMul's bias: the Add of a weight that is the only reader of its output. */
  function addedBias(node: NodeProto): WeightSource | undefined {
    const readers = idx.consumers.get(node.output[0]!) ?? [];
    if (readers.length !== 1 || readers[0]!.node.op_type !== 'Add') return undefined;
    const add = readers[0]!.node;
    return source(add.input[1 - readers[0]!.inputIndex]);
  }

  function followingBatchNorm(node: NodeProto): NodeProto | undefined {
    for (const { node: c, inputIndex } of idx.consumers.get(node.output[0]!) ?? []) {
      if (c.op_type === 'BatchNormalization' && inputIndex === 0) return c;
    }
    return undefined;
  }
}
