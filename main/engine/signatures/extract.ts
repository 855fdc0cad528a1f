import { RwsError } from '../../core/errors.js';
import type { ExtractionMethod, PatchMode, Quantization, Signature, SignatureTensor } from '../../core/signature.js';
import { isFloatType, loadOnnx, type Layer, type OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import { exportProblems } from '../onnx/export-check.js';
import { hashTensor } from './tensor-hash.js';

/** Which layers a signature keeps: the first K, `auto` (the fewest leading layers holding the energy share), or names/patterns. */
export type LayerChoice = number | 'auto' | string[];

export interface ExtractOptions {
  clean: string;
  robust: string;
  /** θ_pre: with it, the paper's projection; without it, the plain difference. */
  pre?: string;
  condition: string;
  id?: string;
  /**
   * The first K layers; `auto`, the fewest leading layers holding `energyShare` of the delta's
   * energy; or patterns (`*` any run of characters, `?` one) matched against each layer's node
   * name and tensor names.
   */
  layers: LayerChoice;
  /** The share of the delta's energy a signature should keep (default 0.95): below it extraction warns, and `auto` refuses. */
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
  node: string;
  tensors: { name: string; shape: number[]; mode: PatchMode }[];
  energy: number;
}

/** A tensor whose delta the signature does not hold, and its share of the delta's energy. */
export interface DroppedTensor {
  name: string;
  share: number;
  /** Why: in a layer that was not kept, or not patchable at all (not float32, or not a weight of any layer). */
  reason: 'not-kept' | 'not-float32' | 'not-in-a-layer';
}

export interface Extraction {
  signature: Signature;
  kept: KeptLayer[];
  /** Layers in the model and their delta energies, in graph order. */
  layerEnergies: number[];
  /** Share of the whole delta's energy the kept layers hold. */
  share: number;
  /** Delta energy outside any patchable tensor; it is always dropped. */
  otherEnergy: number;
  /** Tensors with a non-zero delta the signature leaves out, largest share first. */
  dropped: DroppedTensor[];
  /** Things the user must know: the kept share is below `energyShare`. */
  warnings: string[];
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

const DEFAULT_ENERGY_SHARE = 0.95;

/** A `--layers` pattern as a RegExp: `*` any run of characters, `?` one, the rest literal. */
function patternRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The layers `choice` names (patterns), each pattern required to match; errors say which did not. */
export function layersByName(layers: Layer[], patterns: string[], file: string): Layer[] {
  const picked = new Set<Layer>();
  for (const pattern of patterns) {
    const re = patternRegExp(pattern);
    const hits = layers.filter((l) => re.test(l.node) || l.tensors.some((t) => re.test(t.name)));
    if (!hits.length) {
      throw new RwsError('usage-layers', `--layers: "${pattern}" matches no layer of ${file} (by node or tensor name; \`rws inspect ${file}\` lists them)`, { file, field: '--layers' });
    }
    hits.forEach((l) => picked.add(l));
  }
  return layers.filter((l) => picked.has(l));
}

function percent(share: number): string {
  return `${(share * 100).toFixed(2)}%`;
}

/** The dropped tensors as a message: the largest few by name and share, then how many more. */
export function describeDropped(dropped: DroppedTensor[], shown = 8): string {
  const named = dropped.slice(0, shown).map((d) => `${d.name} (${percent(d.share)}${d.reason === 'not-kept' ? '' : d.reason === 'not-float32' ? ', not float32' : ', in no layer'})`);
  const more = dropped.length - shown;
  return `${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

/** Make a Robust Weight Signature from a clean/robust pair (and optionally θ_pre) already loaded. */
export function extractFromModels(clean: OnnxModel, robust: OnnxModel, pre: OnnxModel | undefined, opts: ExtractOptions): Extraction {
  assertSameGraph(clean, robust, opts.clean, opts.robust);
  if (pre) assertSameGraph(clean, pre, opts.clean, opts.pre!);
  const layers = clean.layers();
  if (layers.length === 0) throw new RwsError('no-layers', `${opts.clean}: no layer with weights found`, { file: opts.clean });
  const deltaOf = (p: { name: string; mode: PatchMode }) =>
    tensorDelta(space(clean.floats(p.name), p.mode), space(robust.floats(p.name), p.mode), pre ? space(pre.floats(p.name), p.mode) : undefined);
  const outside: { name: string; energy: number; reason: DroppedTensor['reason'] }[] = [];
  const perLayer = layers.map((layer) => {
    const plans: TensorPlan[] = [];
    for (const t of layer.tensors) {
      if (t.dataType === DataType.FLOAT) plans.push({ name: t.name, shape: t.shape, channelAxis: t.channelAxis, mode: t.mode });
      else outside.push({ name: t.name, energy: energyOf(deltaOf(t)), reason: 'not-float32' });
    }
    const deltas = plans.map(deltaOf);
    const energies = deltas.map(energyOf);
    return { layer, plans, deltas, energies, energy: energies.reduce((a, b) => a + b, 0) };
  });
  const inLayers = new Set(layers.flatMap((l) => l.tensors.map((t) => t.name)));
  for (const init of clean.initializers()) {
    if (inLayers.has(init.name) || !isFloatType(init.dataType)) continue;
    outside.push({ name: init.name, energy: energyOf(deltaOf({ name: init.name, mode: 'add' })), reason: 'not-in-a-layer' });
  }
  const otherEnergy = outside.reduce((s, o) => s + o.energy, 0);
  const total = perLayer.reduce((s, l) => s + l.energy, 0) + otherEnergy;
  const want = opts.energyShare ?? DEFAULT_ENERGY_SHARE;
  const shareOf = (e: number) => (total === 0 ? 1 : e / total);

  let kept: typeof perLayer;
  const choice = opts.layers;
  if (choice === 'auto') {
    let acc = 0;
    let k = 0;
    while (k < perLayer.length && !(total === 0 || acc / total >= want)) acc += perLayer[k++]!.energy;
    kept = perLayer.slice(0, Math.max(k, 1));
  } else if (typeof choice === 'number') {
    if (!Number.isInteger(choice) || choice < 1) throw new RwsError('usage-layers', `--layers: ${choice} is not a positive whole number, "auto" or layer names`, { field: '--layers' });
    kept = perLayer.slice(0, Math.min(choice, perLayer.length));
  } else {
    const named = new Set(layersByName(layers, choice, opts.clean));
    kept = perLayer.filter((l) => named.has(l.layer));
  }
  const keptSet = new Set(kept);
  const keptEnergy = kept.reduce((s, l) => s + l.energy, 0);
  const share = shareOf(keptEnergy);
  const dropped: DroppedTensor[] = [
    ...perLayer.filter((l) => !keptSet.has(l)).flatMap((l) => l.plans.map((p, j) => ({ name: p.name, energy: l.energies[j]!, reason: 'not-kept' as const }))),
    ...outside,
  ]
    .filter((d) => d.energy > 0)
    .sort((a, b) => b.energy - a.energy)
    .map((d) => ({ name: d.name, share: shareOf(d.energy), reason: d.reason }));
  const warnings = exportProblems(clean).map((p) => p.message);
  if (share < want) {
    const why = `the kept layers hold ${percent(share)} of the delta's energy, below --energy ${percent(want)}; dropped: ${describeDropped(dropped)}`;
    if (choice === 'auto') {
      throw new RwsError('energy-share', `${opts.robust}: even all ${perLayer.length} layers of ${opts.clean} hold only ${percent(share)} of the delta's energy, below --energy ${percent(want)}: the rest is in tensors that cannot be patched: ${describeDropped(dropped.filter((d) => d.reason !== 'not-kept'))}`, { file: opts.robust, field: '--energy' });
    }
    warnings.push(why);
  }

  const tensors: SignatureTensor[] = [];
  const baseHashes: Record<string, string> = {};
  for (const l of kept) {
    l.plans.forEach((p, j) => {
      tensors.push({ name: p.name, shape: p.shape, values: Float32Array.from(l.deltas[j]!), channelAxis: p.channelAxis, mode: p.mode });
      baseHashes[p.name] = hashTensor(clean.floats(p.name));
    });
  }
  const hasBn = tensors.some((t) => t.mode === 'log');
  const signature: Signature = {
    meta: {
      format: 'rws/1',
      id: opts.id ?? opts.condition,
      condition: opts.condition,
      severity: opts.severity ?? [1, 5],
      method: pre ? 'projected' : (opts.method ?? 'plain'),
      layers: kept.length,
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
    kept: kept.map((l) => ({ index: l.layer.index, op: l.layer.op, node: l.layer.node, tensors: l.plans.map(({ name, shape, mode }) => ({ name, shape, mode })), energy: l.energy })),
    layerEnergies: perLayer.map((l) => l.energy),
    share,
    otherEnergy,
    dropped,
    warnings,
  };
}

function energyOf(d: Float64Array): number {
  return dot(d, d);
}

/** Load the models named in `opts` and extract their signature. */
export async function extractSignature(opts: ExtractOptions): Promise<Extraction> {
  const [clean, robust, pre] = await Promise.all([loadOnnx(opts.clean), loadOnnx(opts.robust), opts.pre ? loadOnnx(opts.pre) : undefined]);
  return extractFromModels(clean, robust, pre, opts);
}
