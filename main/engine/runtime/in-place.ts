// In-place patching: one live onnxruntime session whose weights are memory this process writes.
//
// onnxruntime saves a model it has optimised in its own format (a flatbuffer, `.ort`), and a
// session created from such bytes with `use_ort_model_bytes_for_initializers` reads every
// initializer of more than 127 bytes straight from the caller's buffer. A patch switch is then a
// memory write between two runs, and the patched model *is* the plain model: the same optimised
// graph, the same fused kernels. What it takes:
//   - the optimised graph stores weights in its own order (NCHWc blocks, padded channels), made at
//     load on this machine (the order depends on the CPU). Where each patched value lands is found
//     by optimising a probe copy of the model whose patched tensors hold their own element numbers
//     ("codes"), and checked against the real optimised model bit for bit;
//   - tensors of at most 127 bytes are copied by onnxruntime: a Conv's small bias is widened
//     (zero-padded) so it is read in place too; any other is written to the bytes and the session
//     re-created from them (no optimisation then: a few ms), the companion path;
//   - the buffer's weights are moved to 64-byte aligned places (see liveOrtBytes);
//   - kernels that keep re-packed copies of a weight (MatMul, Gemm) would never see a write:
//     pre-packing is turned off when a patched weight feeds one of them;
//   - at load, a run with every patched tensor moved is compared, bit for bit, with a session that
//     copied those bytes: what is written is what runs.
// Writes happen inside the Patcher's queue, between runs, in one synchronous turn (onnxruntime-node
// runs a session synchronously on this thread), so no run sees a half-written tensor. Unpatching
// copies back the bytes saved at load.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ort } from './ort.js';
import { RwsError } from '../../core/errors.js';
import { parseOnnx, type OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import type { DeviceInfo } from './devices.js';
import { createSession } from './session.js';
import { batchNormFolds, foldBatchNorm, foldInputs, type BatchNormFold } from './batchnorm-fold.js';
import { liveOrtBytes, ORT_ALIAS_MIN_BYTES, readOrtGraph, type OrtGraph, type OrtInitializer } from '../onnx/ort-format.js';

/** Every integer up to 2^24 is exact in f32: the probe numbers at most that many patched values. */
const MAX_CODES = 1 << 24;

/**
 * Inputs (`domain:op#index`) whose small tensor may be widened: the NCHWc Conv reads its bias only
 * as far as its output channels (the plain Conv and FusedConv kernels check the bias's size).
 */
const WIDENABLE = new Set(['com.microsoft.nchwc:Conv#2']);

/** Ops whose kernels read their constant inputs at every run on the CPU (they keep no re-packed copy). */
const READ_AT_RUN = new Set([
  'com.microsoft.nchwc:Conv', ':Conv', 'com.microsoft:FusedConv', ':BatchNormalization', ':Add', ':Sub', ':Mul', ':Div',
  ':LayerNormalization', ':InstanceNormalization', ':PRelu', ':Concat', ':Reshape', ':Transpose', ':Gather',
]);

/** Where one patched tensor's values go in one optimised initializer. */
interface Source {
  tensor: string;
  /** Element of the patched tensor … */
  from: Int32Array;
  /** … written to this element of the optimised initializer. */
  to: Int32Array;
}

/** One initializer of the optimised model that holds patched values. */
export interface Target {
  /** Its name in the optimised graph (`reorder_token_12`, or the original name). */
  name: string;
  sources: Source[];
  /** Number of f32 elements. */
  length: number;
  /** `alias`: read in place; `widened`: a small Conv bias widened so it is read in place; `copied`: re-create the session to apply. */
  kind: 'alias' | 'widened' | 'copied';
}

/** What the probe found: for each optimised initializer holding patched values, where they go. */
export interface InPlaceLayout {
  /** Sources name patched tensors, or a fold's folded weight or bias. */
  targets: Target[];
  /** The BatchNorms onnxruntime folds into a patched Conv, with the clean values of their tensors. */
  folds: { fold: BatchNormFold; clean: Map<string, Float32Array> }[];
  /** The optimised model's graph (as saved by onnxruntime on this machine). */
  graph: OrtGraph;
  /** Whether pre-packing must be off (a patched weight feeds a kernel that would re-pack it). */
  prepack: boolean;
}

/** Why in-place patching cannot serve a model (the Patcher falls back to another strategy). */
export class InPlaceUnsupported extends RwsError {
  constructor(file: string, reason: string) {
    super('inplace-unsupported', `${file}: in-place patching does not fit this model: ${reason}`, { file });
  }
}

/** The sessions the in-place runner creates. */
export interface InPlaceSessions {
  /** Creates a session from ONNX bytes, saving the optimised model to `file` in ORT format. */
  saveOrt(bytes: Uint8Array, file: string): Promise<ort.InferenceSession>;
  /** Creates a session running ORT-format bytes in place (`prepack` as the layout says). */
  live(bytes: Uint8Array, prepack: boolean): Promise<ort.InferenceSession>;
  /** Creates a session from ORT-format bytes that copies its weights (for the load-time check), pre-packing as the live one does. */
  copy(bytes: Uint8Array, prepack: boolean): Promise<ort.InferenceSession>;
}

/** The in-place sessions on the CPU, with the Patcher's thread count. */
export function cpuSessions(threads?: number, devices?: DeviceInfo[]): InPlaceSessions {
  const base = { device: 'cpu' as const, threads, devices };
  return {
    saveOrt: async (b, file) => (await createSession(b, { ...base, form: { kind: 'save-ort', file } })).session,
    live: async (b, prepack) => (await createSession(b, { ...base, form: { kind: 'ort-live', prepack } })).session,
    // onnxruntime copies every weight at creation, so the session never reads `b` again. (It once ran
    // in place from a copy of `b` that nothing kept referenced: when the garbage collector freed it
    // before the check run, the load crashed or failed its check.)
    copy: async (b, prepack) => (await createSession(b, { ...base, form: { kind: 'ort-copy', prepack } })).session,
  };
}

const f32 = (bytes: Uint8Array, offset: number, length: number) => new Float32Array(bytes.buffer, bytes.byteOffset + offset, length);
const u32 = (bytes: Uint8Array, offset: number, length: number) => new Uint32Array(bytes.buffer, bytes.byteOffset + offset, length);

/** Reads an ORT-format file onnxruntime wrote, and removes it. */
async function takeFile(file: string): Promise<Uint8Array> {
  const data = await readFile(file);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The optimised model of `model` in ORT format, saved by a session that the caller keeps (it is
 * the plain model), and the layout of the patched tensors in it (see the top of this file).
 */
export async function probeLayout(
  model: OnnxModel,
  patched: string[],
  sessions: InPlaceSessions,
  plainBytes: Uint8Array,
): Promise<{ plain: ort.InferenceSession; ortBytes: Uint8Array; layout: InPlaceLayout }> {
  for (const name of patched) {
    if (model.tensor(name).data_type !== DataType.FLOAT) throw new InPlaceUnsupported(model.file, `"${name}" is not a float32 tensor`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rws-ort-'));
  let plain: ort.InferenceSession | undefined;
  try {
    const realFile = path.join(dir, 'model.ort');
    plain = await sessions.saveOrt(plainBytes, realFile);
    const ortBytes = await takeFile(realFile);

    // What the probe numbers: each patched tensor, except that a Conv + BatchNorm pair onnxruntime
    // folds is numbered as its folded weight and bias (the BatchNorm made the identity: γ = 1,
    // β = 0, μ = 0, σ² = 1, ε = 0, so the fold leaves the numbers as they are).
    const folds = batchNormFolds(model, new Set(patched), readOrtGraph(ortBytes, `${model.file} (optimised)`));
    const probe = parseOnnx(plainBytes, { file: model.file });
    const coded: { name: string; into: string; clean: Float32Array }[] = [];
    const inFolds = new Set(folds.flatMap(foldInputs));
    for (const name of patched) if (!inFolds.has(name)) coded.push({ name, into: name, clean: model.floats(name) });
    for (const f of folds) {
      const clean = foldBatchNorm(f, (name) => model.floats(name));
      coded.push({ name: f.foldedWeight, into: f.weight, clean: clean.weight }, { name: f.foldedBias, into: f.bias ?? f.shift, clean: clean.bias });
      const channels = clean.bias.length;
      for (const [name, v] of [[f.scale, 1], [f.mean, 0], [f.variance, 1], [f.shift, 0]] as const) probe.setFloats(name, new Float32Array(channels).fill(v));
      const node = probe.nodes().find((n) => n.op_type === 'BatchNormalization' && n.input[1] === f.scale)!;
      node.attribute = [...node.attribute.filter((a) => a.name !== 'epsilon'), { name: 'epsilon', type: 1, f: 0 } as (typeof node.attribute)[number]];
    }
    const codes = coded.reduce((n, c) => n + c.clean.length, 0);
    if (codes >= MAX_CODES) throw new InPlaceUnsupported(model.file, `${codes} patched values are more than the probe can number (${MAX_CODES - 1})`);
    const starts = new Map<string, number>();
    let next = 1;
    for (const c of coded) {
      starts.set(c.name, next);
      probe.setFloats(c.into, Float32Array.from({ length: c.clean.length }, (_, i) => next + i));
      next += c.clean.length;
    }
    const probeFile = path.join(dir, 'probe.ort');
    const probeSession = await sessions.saveOrt(probe.encode(), probeFile);
    await probeSession.release();
    const probeBytes = await takeFile(probeFile);
    const layout = matchLayout(model.file, ortBytes, probeBytes, new Map(coded.map((c) => [c.name, c.clean])), starts);
    return { plain, ortBytes, layout: { ...layout, folds: folds.map((f) => ({ fold: f, clean: new Map(foldInputs(f).map((n) => [n, model.floats(n)])) })) } };
  } catch (e) {
    await plain?.release();
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Compares the optimised model with its probe twin: every initializer that differs must hold, at
 * each element, either its own value or one patched value (by its code), and the real model must
 * hold exactly the clean value there. Anything else (a weight scaled by a folded BatchNorm, say)
 * is refused, naming the initializer.
 */
export function matchLayout(file: string, real: Uint8Array, probe: Uint8Array, clean: Map<string, Float32Array>, starts: Map<string, number>): Omit<InPlaceLayout, 'folds'> {
  const graph = readOrtGraph(real, `${file} (optimised)`);
  const twin = readOrtGraph(probe, `${file} (probe)`);
  // The same nodes, wired the same way (onnxruntime may list them in another order).
  const wiring = (g: OrtGraph) => g.nodes.map((n) => `${n.domain}:${n.opType}(${n.inputs.join()})->(${n.outputs.join()})`).sort().join('\n');
  const sameGraph = graph.initializers.length === twin.initializers.length && wiring(graph) === wiring(twin);
  if (!sameGraph) throw new InPlaceUnsupported(file, 'onnxruntime optimises the model differently when its patched values change');
  const twinByName = new Map(twin.initializers.map((t) => [t.name, t]));
  const names = [...starts.keys()];
  const ends = names.map((n) => starts.get(n)! + clean.get(n)!.length);
  const sourceOf = (code: number): number => {
    for (let k = 0; k < names.length; k++) if (code >= starts.get(names[k]!)! && code < ends[k]!) return k;
    return -1;
  };
  const consumers = new Map<string, string[]>();
  for (const n of graph.nodes) {
    n.inputs.forEach((input, i) => {
      if (!consumers.has(input)) consumers.set(input, []);
      consumers.get(input)!.push(`${n.domain}:${n.opType}#${i}`);
    });
  }

  const covered = new Map([...clean].map(([n, v]) => [n, new Uint8Array(v.length)]));
  const targets: Target[] = [];
  let prepack = true;
  for (const t of graph.initializers) {
    const p = twinByName.get(t.name);
    if (!p || p.byteLength !== t.byteLength || p.dims.join() !== t.dims.join()) {
      throw new InPlaceUnsupported(file, 'onnxruntime optimises the model differently when its patched values change');
    }
    if (t.offset < 0 || equalBytes(real, t, probe, p)) continue;
    if (t.dataType !== DataType.FLOAT || t.byteLength % 4 !== 0) throw new InPlaceUnsupported(file, `the optimised initializer "${t.name}" mixes patched values into a non-float tensor`);
    const n = t.byteLength / 4;
    const realValues = u32(real, t.offset, n);
    const probeValues = f32(probe, p.offset, n);
    const probeBits = u32(probe, p.offset, n);
    const from: number[][] = names.map(() => []);
    const to: number[][] = names.map(() => []);
    for (let j = 0; j < n; j++) {
      const v = probeValues[j]!;
      const k = Number.isInteger(v) ? sourceOf(v) : -1;
      if (k < 0) {
        if (probeBits[j] === realValues[j]) continue;
        throw new InPlaceUnsupported(file, `the optimised initializer "${t.name}" holds values computed from patched tensors, not the tensors themselves (a folded BatchNorm, a scaled weight)`);
      }
      const name = names[k]!;
      const i = v - starts.get(name)!;
      const cleanBits = new Uint32Array(clean.get(name)!.buffer, clean.get(name)!.byteOffset, clean.get(name)!.length);
      if (cleanBits[i] !== realValues[j]) {
        throw new InPlaceUnsupported(file, `the optimised initializer "${t.name}" does not hold "${name}"'s clean values where the probe put them`);
      }
      from[k]!.push(i);
      to[k]!.push(j);
      covered.get(name)![i] = 1;
    }
    const sources: Source[] = [];
    names.forEach((tensor, k) => {
      if (from[k]!.length) sources.push({ tensor, from: Int32Array.from(from[k]!), to: Int32Array.from(to[k]!) });
    });
    const readers = consumers.get(t.name) ?? [];
    if (readers.some((r) => !READ_AT_RUN.has(r.slice(0, r.lastIndexOf('#'))))) prepack = false;
    let kind: Target['kind'] = 'alias';
    if (t.byteLength < ORT_ALIAS_MIN_BYTES) {
      kind = t.dims.length === 1 && readers.length > 0 && readers.every((r) => WIDENABLE.has(r)) ? 'widened' : 'copied';
    }
    targets.push({ name: t.name, sources, length: n, kind });
  }
  for (const [name, seen] of covered) {
    if (seen.includes(0)) throw new InPlaceUnsupported(file, `"${name}" is not found whole in the optimised model (onnxruntime folded or dropped part of it)`);
  }
  return { targets, graph, prepack };
}

function equalBytes(a: Uint8Array, ta: OrtInitializer, b: Uint8Array, tb: OrtInitializer): boolean {
  if (ta.byteLength !== tb.byteLength) return false;
  const x = a.subarray(ta.offset, ta.offset + ta.byteLength);
  const y = b.subarray(tb.offset, tb.offset + tb.byteLength);
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

/** A load-time check that writes reach the kernels: an input to run, the output to compare, the clean patched tensors. */
export interface WriteCheck {
  feeds: Record<string, ort.Tensor>;
  output: string;
  clean: Map<string, Float32Array>;
}

/** Elements a widened bias gets: enough to pass onnxruntime's 127-byte line. */
const WIDE = ORT_ALIAS_MIN_BYTES / 4;

/** Patched weights written into one live session's memory (see the top of this file). */
export class InPlaceRunner {
  /** Bytes of each target as loaded, for a bit-exact unpatch. */
  private readonly clean: Uint8Array[];
  private readonly views: Float32Array[];
  /** Targets not holding their clean bytes. */
  private readonly dirty: boolean[];
  private session: ort.InferenceSession;

  private constructor(
    private readonly bytes: Uint8Array,
    session: ort.InferenceSession,
    private readonly targets: Target[],
    offsets: Map<string, number>,
    private readonly remake: () => Promise<ort.InferenceSession>,
    private readonly folds: InPlaceLayout['folds'],
    /** False when kernels were told not to keep re-packed weights (a patched weight feeds a MatMul or Gemm). */
    readonly prepack: boolean,
    /** How long creating the live session took at load, the fastest of three when switches re-create it. */
    readonly createMs: number,
  ) {
    this.session = session;
    this.views = targets.map((t) => f32(bytes, offsets.get(t.name)!, t.length));
    this.clean = this.views.map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
    this.dirty = targets.map(() => false);
  }

  /** Builds the live session for `layout` from the optimised `ortBytes`, and checks that writes reach the runs. */
  static async create(file: string, ortBytes: Uint8Array, layout: InPlaceLayout, sessions: InPlaceSessions, check?: WriteCheck): Promise<InPlaceRunner> {
    const grow = new Map(layout.targets.filter((t) => t.kind === 'widened').map((t) => [t.name, Math.max(WIDE, t.length)]));
    const live = liveOrtBytes(ortBytes, layout.graph, grow, file);
    // Copied targets have no place in the live buffer of their own: they are read at session creation.
    const offsets = new Map(live.offsets);
    for (const t of layout.targets) {
      if (t.kind === 'copied') offsets.set(t.name, layout.graph.initializers.find((i) => i.name === t.name)!.offset);
    }
    const remake = () => sessions.live(live.bytes, layout.prepack);
    let t0 = performance.now();
    let session = await remake();
    let createMs = performance.now() - t0;
    if (layout.targets.some((t) => t.kind === 'copied')) {
      // A switch will re-create this session: time it twice more, and keep the fastest (this
      // machine may be busy with something else for one of them).
      for (let i = 0; i < 2; i++) {
        t0 = performance.now();
        const again = await remake();
        createMs = Math.min(createMs, performance.now() - t0);
        await session.release();
        session = again;
      }
    }
    const runner = new InPlaceRunner(live.bytes, session, layout.targets, offsets, remake, layout.folds, layout.prepack, createMs);
    if (check) {
      try {
        await runner.checkWrites(file, sessions, check, layout.prepack);
      } catch (e) {
        await runner.dispose();
        if (e instanceof InPlaceUnsupported) throw e;
        throw new InPlaceUnsupported(file, `the live session fails its check run (${(e as Error).message.split('\n')[0]})`);
      }
    }
    return runner;
  }

  /** True when applying a patch re-creates the session (a patched tensor onnxruntime copies). */
  get recreates(): boolean {
    return this.targets.some((t) => t.kind === 'copied');
  }

  /** Writes the patched values (by original tensor name); tensors not given are left as they are. */
  async apply(given: Map<string, Float32Array>): Promise<void> {
    const values = this.withFolds(given);
    let remake = false;
    // One synchronous pass: no run can start between the first write and the last.
    this.targets.forEach((t, k) => {
      const view = this.views[k]!;
      let wrote = false;
      for (const s of t.sources) {
        const v = values.get(s.tensor);
        if (!v) continue;
        const { from, to } = s;
        for (let i = 0; i < from.length; i++) view[to[i]!] = v[from[i]!]!;
        wrote = true;
      }
      if (wrote) {
        this.dirty[k] = true;
        if (t.kind === 'copied') remake = true;
      }
    });
    if (remake) await this.recreate();
  }

  /** `values` and, for each BatchNorm fold any of whose tensors is given, its folded weight and bias. */
  private withFolds(values: Map<string, Float32Array>): Map<string, Float32Array> {
    if (!this.folds.length) return values;
    const all = new Map(values);
    for (const { fold, clean } of this.folds) {
      if (!foldInputs(fold).some((n) => values.has(n))) continue;
      const folded = foldBatchNorm(fold, (n) => values.get(n) ?? clean.get(n)!);
      all.set(fold.foldedWeight, folded.weight);
      all.set(fold.foldedBias, folded.bias);
    }
    return all;
  }

  /** Copies back every target's bytes as loaded: the clean model, bit for bit. */
  async restore(): Promise<void> {
    let remake = false;
    this.targets.forEach((t, k) => {
      if (!this.dirty[k]) return;
      const view = this.views[k]!;
      new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(this.clean[k]!);
      this.dirty[k] = false;
      if (t.kind === 'copied') remake = true;
    });
    if (remake) await this.recreate();
  }

  /** The bytes of each target as they are now, by optimised name (for tests). */
  targetBytes(): Map<string, Uint8Array> {
    return new Map(this.targets.map((t, k) => [t.name, new Uint8Array(this.views[k]!.buffer, this.views[k]!.byteOffset, this.views[k]!.byteLength).slice()]));
  }

  /** The optimised initializers holding patched values, and how each is applied. */
  describe(): { name: string; kind: Target['kind']; length: number }[] {
    return this.targets.map((t) => ({ name: t.name, kind: t.kind, length: t.length }));
  }

  async run(feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
    return (await this.session.run(feeds, [output]))[output] as ort.Tensor;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  private async recreate(): Promise<void> {
    const next = await this.remake();
    const old = this.session;
    this.session = next;
    await old.release();
  }

  /**
   * Moves every patched value (×1.5 + 0.25 of its clean value), runs, and compares with a session
   * that copied the same bytes: equal outputs mean every write reaches the kernels. Then restores
   * the clean bytes.
   */
  private async checkWrites(file: string, sessions: InPlaceSessions, check: WriteCheck, prepack: boolean): Promise<void> {
    const moved = new Map<string, Float32Array>();
    for (const [name, values] of check.clean) moved.set(name, Float32Array.from(values, (v) => v * 1.5 + 0.25));
    try {
      await this.apply(moved);
      const here = await this.run(check.feeds, check.output);
      const copy = await sessions.copy(this.bytes, prepack);
      let there: ort.Tensor;
      try {
        there = (await copy.run(check.feeds, [check.output]))[check.output] as ort.Tensor;
      } finally {
        await copy.release();
      }
      const a = here.data as Float32Array;
      const b = there.data as Float32Array;
      const same = a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
      if (!same) throw new InPlaceUnsupported(file, 'weights written in place did not reach every kernel (a kernel keeps its own copy)');
    } finally {
      await this.restore();
    }
  }
}
