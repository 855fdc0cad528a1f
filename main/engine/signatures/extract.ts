import { RwsError } from '../../core/errors.js';
import type { ExtractionMethod, PatchMode, Quantization, Signature, SignatureTensor } from '../../core/signature.js';
import { loadOnnx, type OnnxModel } from '../onnx/model.js';
import { hashTensor } from './tensor-hash.js';

export interface ExtractOptions {
  clean: string;
  robust: string;
  /** θ_pre: with it, the paper's projection; without it, the plain difference. */
  pre?: string;
  condition: string;
  id?: string;
  /** Number of layers to keep, or `auto` (smallest k holding `energyShare` of the delta's energy). */
  layers: number | 'auto';
  energyShare?: number;
  quant: Quantization;
  severity?: [number, number];
  /** Label the delta as a shallow fine-tune instead of `plain` (it is computed the same way). */
  method?: ExtractionMethod;
  description?: string;
}

/** What one kept layer contributes. */
export interface KeptLayer {
  index: number;
  op: string;
  tensors: { name: string; shape: number[]; mode: PatchMode }[];
  energy: number;
}

export interface Extraction {
  signature: Signature;
  kept: KeptLayer[];
  /** Layers in the model and their delta energies, in graph order. */
  layerEnergies: number[];
  /** Share of the whole delta's energy the kept layers hold. */
  share: number;
  /** Delta energy outside any layer (other initializers); it is dropped. */
  otherEnergy: number;
}

interface TensorPlan {
  name: string;
  shape: number[];
  channelAxis: number;
  mode: PatchMode;
}

/** Check two models have the same graph: same nodes and same initializer names and shapes. */
export function assertSameGraph(a: OnnxModel, b: OnnxModel, aFile: string, bFile: string): void {
  const ia = a.initializers();
  const ib = new Map(b.initializers().map((i) => [i.name, i]));
  for (const t of ia) {
    const u = ib.get(t.name);
    if (!u) throw new RwsError('graph-mismatch', `${bFile}: tensor "${t.name}" of ${aFile} is missing`, { file: bFile, field: t.name });
    if (u.dims.join(',') !== t.dims.join(',')) {
      throw new RwsError('graph-mismatch', `${bFile}: tensor "${t.name}" has shape [${u.dims.join(',')}], ${aFile} has [${t.dims.join(',')}]`, { file: bFile, field: t.name });
    }
    ib.delete(t.name);
  }
  const extra = [...ib.keys()][0];
  if (extra !== undefined) throw new RwsError('graph-mismatch', `${bFile}: tensor "${extra}" is not in ${aFile}`, { file: bFile, field: extra });
  const na = a.proto.graph?.node ?? [];
  const nb = b.proto.graph?.node ?? [];
  if (na.length !== nb.length) throw new RwsError('graph-mismatch', `${bFile}: ${nb.length} nodes, ${aFile} has ${na.length}`, { file: bFile });
  na.forEach((n: any, i: number) => {
    const m = nb[i] as any;
    if (n.opType !== m.opType || (n.input ?? []).join('|') !== (m.input ?? []).join('|') || (n.output ?? []).join('|') !== (m.output ?? []).join('|')) {
      const name = n.name || n.output?.[0] || `#${i}`;
      throw new RwsError('graph-mismatch', `${bFile}: node "${name}" (${n.opType}) differs from ${aFile}`, { file: bFile, field: name });
    }
  });
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Values in the space the patch is applied in: BatchNorm variances as logs (they must stay positive). */
function space(values: Float32Array, mode: PatchMode): Float64Array {
  const out = new Float64Array(values.length);
  if (mode === 'log') for (let i = 0; i < values.length; i++) out[i] = Math.log(Math.max(values[i]!, 1e-12));
  else for (let i = 0; i < values.length; i++) out[i] = values[i]!;
  return out;
}

/**
 * The RWS of one tensor: plain `robust − clean`, or with θ_pre the paper's projection
 * `Δ − (⟨Δ,τ⟩/‖τ‖²)·τ` with `τ = clean − pre`, `Δ = robust − pre`.
 */
export function tensorDelta(clean: Float64Array, robust: Float64Array, pre?: Float64Array): Float64Array {
  const out = new Float64Array(clean.length);
  if (!pre) {
    for (let i = 0; i < out.length; i++) out[i] = robust[i]! - clean[i]!;
    return out;
  }
  const tau = new Float64Array(clean.length);
  for (let i = 0; i < out.length; i++) {
    tau[i] = clean[i]! - pre[i]!;
    out[i] = robust[i]! - pre[i]!;
  }
  const tt = dot(tau, tau);
  if (tt > 0) {
    const c = dot(out, tau) / tt;
    for (let i = 0; i < out.length; i++) out[i]! -= c * tau[i]!;
  }
  return out;
}

function layerTensors(layer: ReturnType<OnnxModel['layers']>[number], model: OnnxModel): TensorPlan[] {
  const dims = new Map(model.initializers().map((i) => [i.name, i.dims.map(Number)]));
  const plans: TensorPlan[] = [];
  const add = (name: string | undefined, channelAxis: number, mode: PatchMode) => {
    if (name && dims.has(name)) plans.push({ name, shape: dims.get(name)!, channelAxis, mode });
  };
  add(layer.weight, layer.channelAxis, 'add');
  add(layer.bias, 0, 'add');
  if (layer.batchNorm) {
    add(layer.batchNorm.scale, 0, 'add');
    add(layer.batchNorm.bias, 0, 'add');
    add(layer.batchNorm.mean, 0, 'add');
    add(layer.batchNorm.var, 0, 'log');
  }
  return plans;
}

/** Make a Robust Weight Signature from a clean/robust pair (and optionally θ_pre) already loaded. */
export function extractFromModels(clean: OnnxModel, robust: OnnxModel, pre: OnnxModel | undefined, opts: ExtractOptions): Extraction {
  assertSameGraph(clean, robust, opts.clean, opts.robust);
  if (pre) assertSameGraph(clean, pre, opts.clean, opts.pre!);
  const layers = clean.layers();
  if (layers.length === 0) throw new RwsError('no-layers', `${opts.clean}: no Conv/Gemm/MatMul layer with weights found`, { file: opts.clean });
  const perLayer = layers.map((layer) => {
    const plans = layerTensors(layer, clean);
    let energy = 0;
    const deltas = plans.map((p) => {
      const d = tensorDelta(space(clean.floats(p.name), p.mode), space(robust.floats(p.name), p.mode), pre ? space(pre.floats(p.name), p.mode) : undefined);
      energy += dot(d, d);
      return d;
    });
    return { layer, plans, deltas, energy };
  });
  const inLayers = new Set(perLayer.flatMap((l) => l.plans.map((p) => p.name)));
  let otherEnergy = 0;
  for (const init of clean.initializers()) {
    if (inLayers.has(init.name) || init.dataType !== 1) continue;
    const c = clean.floats(init.name);
    const r = robust.floats(init.name);
    for (let i = 0; i < c.length; i++) otherEnergy += (r[i]! - c[i]!) ** 2;
  }
  const total = perLayer.reduce((s, l) => s + l.energy, 0) + otherEnergy;
  let k: number;
  if (opts.layers === 'auto') {
    const want = opts.energyShare ?? 0.95;
    let acc = 0;
    k = perLayer.length;
    for (let i = 0; i < perLayer.length; i++) {
      acc += perLayer[i]!.energy;
      if (total === 0 || acc / total >= want) {
        k = i + 1;
        break;
      }
    }
  } else {
    if (!Number.isInteger(opts.layers) || opts.layers < 1) throw new RwsError('usage-layers', `--layers: ${opts.layers} is not a positive whole number or "auto"`, { field: '--layers' });
    k = Math.min(opts.layers, perLayer.length);
  }
  const kept = perLayer.slice(0, k);
  const tensors: SignatureTensor[] = [];
  const baseHashes: Record<string, string> = {};
  for (const l of kept) {
    l.plans.forEach((p, j) => {
      tensors.push({ name: p.name, shape: p.shape, values: Float32Array.from(l.deltas[j]!), channelAxis: p.channelAxis, mode: p.mode });
      baseHashes[p.name] = hashTensor(clean.floats(p.name));
    });
  }
  const keptEnergy = kept.reduce((s, l) => s + l.energy, 0);
  const share = total === 0 ? 1 : keptEnergy / total;
  const hasBn = kept.some((l) => l.layer.batchNorm);
  const signature: Signature = {
    meta: {
      format: 'rws/1',
      id: opts.id ?? opts.condition,
      condition: opts.condition,
      severity: opts.severity ?? [1, 5],
      method: pre ? 'projected' : (opts.method ?? 'plain'),
      layers: k,
      quant: opts.quant,
      baseHashes,
      batchNorm: hasBn ? 'log-variance' : 'folded',
      baseModel: opts.clean.split(/[\\/]/).pop(),
      energyShare: share,
      description: opts.description,
    },
    tensors,
  };
  return {
    signature,
    kept: kept.map((l) => ({ index: l.layer.index, op: l.layer.op, tensors: l.plans.map(({ name, shape, mode }) => ({ name, shape, mode })), energy: l.energy })),
    layerEnergies: perLayer.map((l) => l.energy),
    share,
    otherEnergy,
  };
}

/** Load the models named in `opts` and extract their signature. */
export async function extractSignature(opts: ExtractOptions): Promise<Extraction> {
  const [clean, robust, pre] = await Promise.all([loadOnnx(opts.clean), loadOnnx(opts.robust), opts.pre ? loadOnnx(opts.pre) : undefined]);
  return extractFromModels(clean, robust, pre, opts);
}
