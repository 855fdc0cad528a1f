// A BatchNormalization that onnxruntime folds into the Conv before it (its ConvBNFusion), done here
// the same way, so that in-place patching can write the folded weights of a model exported with its
// BatchNorms kept. onnxruntime computes, in f32, one elementwise pass at a time:
//   s = γ / sqrt(σ² + ε);  W' = W·s (per output channel);
//   b' = ((b − μ)·s) + β  with a conv bias b,  b' = β − μ·s  without.
// Each step here rounds to f32 as it does (every +, −, ×, ÷ and sqrt of two f32 values rounds the
// same in f64 then f32), so the clean folded weights come out bit for bit as onnxruntime's (the
// in-place probe checks that they do).
import type { OnnxModel } from '../onnx/model.js';
import { DataType, type NodeProto } from '../onnx/onnx-proto.js';
import type { OrtGraph } from '../onnx/ort-format.js';

/** One Conv → BatchNormalization pair onnxruntime folded, by tensor names. */
export interface BatchNormFold {
  weight: string;
  bias?: string;
  scale: string;
  shift: string;
  mean: string;
  variance: string;
  epsilon: number;
  /** The BatchNormalization node (to give it ε = 0 in the probe). */
  node: NodeProto;
  /** Names the folded tensors go by in the in-place layout. */
  foldedWeight: string;
  foldedBias: string;
}

/** Every tensor a fold reads. */
export function foldInputs(f: BatchNormFold): string[] {
  return [f.weight, ...(f.bias ? [f.bias] : []), f.scale, f.shift, f.mean, f.variance];
}

function epsilonOf(node: NodeProto): number {
  const a = node.attribute.find((x) => x.name === 'epsilon');
  return Math.fround(a?.f ?? 1e-5);
}

/**
 * The Conv → BatchNormalization pairs of `model` that onnxruntime folded in its optimised graph
 * `optimised` (no node there reads the BatchNorm's scale any more) and that read a `patched`
 * tensor. Only pairs whose tensors nothing else reads: a tensor read elsewhere as well would be
 * both folded and not.
 */
export function batchNormFolds(model: OnnxModel, patched: ReadonlySet<string>, optimised: OrtGraph): BatchNormFold[] {
  const idx = model.graphIndex();
  const stillRead = new Set(optimised.nodes.flatMap((n) => n.inputs));
  const alone = (name: string | undefined) => !!name && model.hasInitializer(name) && model.tensor(name).data_type === DataType.FLOAT && (idx.consumers.get(name) ?? []).length === 1;
  const folds: BatchNormFold[] = [];
  for (const bn of idx.order) {
    if (bn.op_type !== 'BatchNormalization' || (bn.domain && bn.domain !== 'ai.onnx')) continue;
    const [x, scale, shift, mean, variance] = bn.input;
    const conv = x ? idx.producer.get(x) : undefined;
    if (!conv || conv.op_type !== 'Conv' || (idx.consumers.get(x!) ?? []).length !== 1) continue;
    const weight = conv.input[1];
    const bias = conv.input[2] || undefined;
    const names = [weight, bias, scale, shift, mean, variance].filter((n, i) => i !== 1 || n !== undefined);
    if (!names.every(alone) || stillRead.has(scale!)) continue;
    if (!names.some((n) => patched.has(n!))) continue;
    folds.push({
      weight: weight!,
      ...(bias ? { bias } : {}),
      scale: scale!,
      shift: shift!,
      mean: mean!,
      variance: variance!,
      epsilon: epsilonOf(bn),
      node: bn,
      foldedWeight: `${weight} (BatchNorm folded)`,
      foldedBias: `${bias ?? shift} (BatchNorm folded)`,
    });
  }
  return folds;
}

/** The folded weight and bias of `f` from its tensors' values, as onnxruntime computes them (see the top of this file). */
export function foldBatchNorm(f: BatchNormFold, value: (name: string) => Float32Array, out?: { weight: Float32Array; bias: Float32Array }): { weight: Float32Array; bias: Float32Array } {
  const w = value(f.weight);
  const gamma = value(f.scale);
  const beta = value(f.shift);
  const mu = value(f.mean);
  const v = value(f.variance);
  const channels = gamma.length;
  const weight = out?.weight ?? new Float32Array(w.length);
  const bias = out?.bias ?? new Float32Array(channels);
  const per = w.length / channels;
  const b = f.bias ? value(f.bias) : undefined;
  for (let o = 0; o < channels; o++) {
    const s = Math.fround(gamma[o]! / Math.fround(Math.sqrt(Math.fround(v[o]! + f.epsilon))));
    for (let i = o * per; i < (o + 1) * per; i++) weight[i] = w[i]! * s;
    bias[o] = b ? Math.fround(Math.fround(b[o]! - mu[o]!) * s) + beta[o]! : beta[o]! - Math.fround(mu[o]! * s);
  }
  return { weight, bias };
}
