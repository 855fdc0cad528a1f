// The live patcher: θ = θ_clean + Σ α·RWS on the model's shallow tensors, applied to a running
// onnxruntime model without rebuilding all of it. Four ways to get new weights into onnxruntime
// (overridable initializers are silently ignored by onnxruntime-node, so they are not one of them):
//   inplace – one session run from onnxruntime's own optimised format, its weights read from memory
//             this process writes: a switch is a memory write, and the patched model runs as fast
//             as the plain one (in-place.ts). CPU only.
//   head    – the model cut after the last patched layer; the small head's session is re-created
//             from template bytes on each mix change, the tail's session is made once.
//   session – the whole model's session re-created from template bytes on each mix change.
//   inputs  – the patched tensors become graph inputs, fed on every run (one session, but the
//             convs leave onnxruntime's fused path: +12 to +50% per inference).
// With the other three, the clean model runs through its own plain session, so an empty mix gives
// exactly the plain model's outputs and switching a patch off costs nothing; `inplace` copies the
// clean bytes back.
import { ort } from './ort.js';
import { RwsError } from '../../core/errors.js';
import { mixKey, normalizeMix } from '../../core/mix.js';
import type { ConditionMix, Signature } from '../../core/signature.js';
import { WeightPatch } from '../../core/weight-patch.js';
import { listDevices, type Device, type DeviceInfo } from './devices.js';
import { cpuSessions, InPlaceRunner, InPlaceUnsupported, probeLayout, type WriteCheck } from './in-place.js';
import { createRandom } from '../../core/random.js';
import { loadOnnx, parseOnnx, type OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import { byteTemplate, splitModel, type HeadTemplate } from '../onnx/split.js';
import { createSession, plannedDevice } from './session.js';
import { assertHonestExport, withoutInitializerInputs } from '../onnx/export-check.js';
import { checkPackModel, type PackModelCheck } from '../packs/pack-model.js';

export { loadSignatures };
import { checkSignatures, loadSignatures } from '../signatures/fit.js';

/** How patched weights reach onnxruntime (see the top of this file). */
export type PatchStrategy = 'inplace' | 'head' | 'session' | 'inputs';

/** Options of `Patcher.create`. */
export interface PatcherOptions {
  device?: Device;
  /** `auto` (default) picks per model; see `chooseStrategy`. */
  strategy?: 'auto' | PatchStrategy;
  /** Accept signatures whose base tensors differ (transfer): `true` for all, or the ids allowed. */
  force?: boolean | readonly string[];
  threads?: number;
  /** The input to feed (default: the model's first); a pack names it in `input.name`. */
  inputName?: string;
  /** The output to return (default: the model's first). */
  outputName?: string;
  /** Devices as probed; tests pass a fake list. */
  devices?: DeviceInfo[];
  /**
   * SHA-256s the files had when they were checked (a pack's load): `Patcher.open` hashes what it
   * reads and refuses other bytes, so a file replaced since is never used.
   */
  expect?: { model?: string; signatures?: Record<string, string> };
  /**
   * A pack's description of its model, checked by `Patcher.open` against the model it reads (a pack
   * loaded with `checkModel: false` leaves that to this one parse). Errors as `loadPack`'s.
   */
  packModel?: PackModelCheck;
}

/**
 * Models whose weights take at most this many bytes re-create their whole session on a switch.
 * Measured by test/bench/patcher.ts on a 2-core machine: the default-pack-sized model (0.7 MB)
 * re-creates its session in 2–3 ms and then runs at 1.00–1.02× the plain model, while a head +
 * tail pair costs it 1.10–1.45× at batch 1 and weights as inputs 1.06–1.25× (both over the 1.10×
 * target). ResNet-18 (47 MB) needs 23–135 ms to re-create its session (over the 10 ms target); its
 * head switches in 3–9 ms and runs at 1.01–1.08× (CPU time). Session creation grows with the
 * weights (~0.5–1 ms per MB), so up to 4 MB stays well inside the 10 ms switch target.
 */
export const SESSION_STRATEGY_MAX_BYTES = 4 * 1024 * 1024;

/**
 * A switch that re-creates the in-place session (a patched tensor of at most 127 bytes that is not
 * a Conv's bias) may take this long, measured at load, before `auto` prefers a rebuilt strategy:
 * the switch target of ≤ 10 ms, with room for the run that follows.
 */
export const INPLACE_RECREATE_MAX_MS = 8;

/**
 * With pre-packing off (a patched weight feeds a MatMul or Gemm, whose kernels would otherwise
 * keep their own copy), the live session may run slower than the plain one; `auto` keeps in-place
 * patching only while it runs within this factor of the plain session at load.
 */
export const INPLACE_UNPACKED_MAX = 1.02;

/**
 * The strategy `auto` stands for on this model when in-place patching is out (a device other than
 * the CPU, or a model it does not fit): `session` for small models, `head` otherwise.
 */
export function chooseStrategy(model: OnnxModel, patched: string[]): PatchStrategy {
  if (patched.length === 0) return 'session';
  let bytes = 0;
  for (const info of model.initializers()) bytes += 4 * info.dims.reduce((a, b) => a * b, 1);
  return bytes <= SESSION_STRATEGY_MAX_BYTES ? 'session' : 'head';
}

/** Patched weights as onnxruntime sees them: a way to apply new values and to run with them. */
interface PatchedRunner {
  apply(values: Map<string, Float32Array>): Promise<void>;
  run(feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor>;
  dispose(): Promise<void>;
  /** Present when the runner is the whole model, clean too: puts the clean weights back. */
  restore?(): Promise<void>;
}

/** Serialises calls: a mix change must not release a session that a run is still using. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  push<T>(job: () => Promise<T>): Promise<T> {
    const next = this.tail.then(job, job);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** A model that runs with a live-switchable mix of Robust Weight Signatures. */
export class Patcher {
  /** The device the sessions run on (after any fallback). */
  readonly device: string;
  readonly strategy: PatchStrategy;
  /** Things the user should know about the signatures: forced hash mismatches, skipped tensors. */
  readonly warnings: string[];
  /** Set when the requested device could not be used (kept out of `warnings`: callers print it once). */
  readonly fallback?: string;
  /** Why this strategy: what `auto` measured or found (for `rws inspect`, the bench and logs). */
  readonly strategyReason: string;
  readonly inputName: string;
  readonly outputName: string;
  /** Ids of the loaded signatures. */
  readonly signatureIds: string[];
  /** The largest batch the model's input takes (its fixed batch dimension), or none when free. */
  readonly maxBatch?: number;

  private applied = 0;
  private current: ConditionMix = {};
  private currentKey = 'off';
  private patchedActive = false;
  private disposed = false;
  private readonly queue = new Queue();

  private constructor(
    /** The clean model's own session; absent when the runner is the whole model (inplace). */
    private readonly plain: ort.InferenceSession | undefined,
    private readonly runner: PatchedRunner | undefined,
    private readonly weights: WeightPatch,
    init: { device: string; strategy: PatchStrategy; reason: string; warnings: string[]; fallback?: string; inputName: string; outputName: string; maxBatch?: number },
  ) {
    this.device = init.device;
    this.strategy = init.strategy;
    this.strategyReason = init.reason;
    this.warnings = init.warnings;
    if (init.fallback) this.fallback = init.fallback;
    this.inputName = init.inputName;
    this.outputName = init.outputName;
    this.signatureIds = weights.signatureIds();
    if (init.maxBatch !== undefined) this.maxBatch = init.maxBatch;
  }

  /**
   * Refuses a model exported in training mode; checks every signature against the model (each
   * tensor must exist, and its SHA-256 must match the signature's base hash unless forced), then
   * builds the sessions for the chosen strategy.
   */
  static async create(exported: OnnxModel, signatures: Map<string, Signature>, opts: PatcherOptions = {}, files?: ReadonlyMap<string, string>): Promise<Patcher> {
    const warnings = assertHonestExport(exported);
    const model = withoutInitializerInputs(exported);
    const usable = checkSignatures(model, signatures, opts.force ?? false, warnings, files);
    const touched = new Set<string>();
    for (const sig of usable.values()) for (const t of sig.tensors) touched.add(t.name);
    const clean = new Map<string, Float32Array>();
    for (const name of touched) clean.set(name, model.floats(name));
    const weights = new WeightPatch(clean, usable);
    const patched = weights.touched();

    const inputName = opts.inputName ?? model.inputs[0]?.name;
    if (!inputName) throw new RwsError('onnx-format', `${model.file}: the model has no input`, { file: model.file });
    if (!model.inputs.some((i) => i.name === inputName)) {
      throw new RwsError('usage', `${model.file}: the model has no input "${inputName}" (inputs: ${model.inputs.map((i) => i.name).join(', ')})`, { file: model.file, field: 'input' });
    }
    const outputName = opts.outputName ?? model.outputs[0]?.name;
    if (!outputName || !model.outputs.some((o) => o.name === outputName)) {
      throw new RwsError('usage', `${model.file}: the model has no output "${opts.outputName}" (outputs: ${model.outputs.map((o) => o.name).join(', ')})`, { file: model.file, field: 'output' });
    }

    // Probe the providers once: every head rebuild would otherwise probe them again.
    const devices = opts.devices ?? listDevices();
    const sessionOpts = { device: opts.device ?? 'auto', threads: opts.threads, devices };
    const auto = !opts.strategy || opts.strategy === 'auto';
    const bytes = model.encode({ embedExternal: true });
    const planned = plannedDevice(sessionOpts.device, devices);
    const onCpu = planned.device === 'cpu';
    if (opts.strategy === 'inplace' && !onCpu) {
      throw new RwsError('usage', `${model.file}: the inplace strategy runs on the CPU only (device "${sessionOpts.device}")`, { file: model.file, field: 'strategy' });
    }

    let reason = '';
    if (patched.length && (auto || opts.strategy === 'inplace') && onCpu) {
      try {
        return await Patcher.inPlace(model, bytes, patched, weights, { ...sessionOpts, auto, warnings, inputName, outputName, fallback: planned.fallback });
      } catch (e) {
        if (!auto) throw e;
        reason = `in-place patching was not used: ${e instanceof InPlaceUnsupported ? e.message : `${model.file}: ${(e as Error).message}`}; `;
      }
    }

    const created = await createSession(bytes, sessionOpts);
    const device = created.device;
    let strategy = auto ? chooseStrategy(model, patched) : (opts.strategy as PatchStrategy);
    if (auto) reason += strategy === 'session' ? `the model's weights take at most ${SESSION_STRATEGY_MAX_BYTES / 1024 / 1024} MiB: its session is re-created on a switch` : 'the model is cut after its last patched layer';
    else reason = `strategy ${strategy} was asked for`;

    let runner: PatchedRunner | undefined;
    const make = (b: Uint8Array) => createSession(b, { ...sessionOpts, device }).then((s) => s.session);
    const makeHead = (b: Uint8Array) => createSession(b, { ...sessionOpts, device, memPattern: false }).then((s) => s.session);
    const build = (which: PatchStrategy): Promise<PatchedRunner> => {
      if (which === 'head') return HeadRunner.create(model, patched, make, makeHead);
      if (which === 'session') return Promise.resolve(new SessionRunner(wholeModelTemplate(model, patched), make));
      return InputsRunner.create(model, patched, make);
    };
    try {
      if (patched.length) {
        try {
          runner = await build(strategy);
        } catch (e) {
          // `auto` never settles on a strategy that does not load: a graph the head/tail split
          // cannot cut (a patched weight read inside a subgraph, an op whose output type across
          // the cut is unknown) is patched by re-creating the whole session instead.
          if (!auto || strategy !== 'head') throw e;
          warnings.push(`${model.file}: the head/tail split does not load (${(e as Error).message}); patching by re-creating the whole model's session instead (slower switches)`);
          strategy = 'session';
          reason += '; the head/tail split does not load, so the whole session is re-created on a switch';
          runner = await build(strategy);
        }
      }
    } catch (e) {
      await created.session.release();
      throw e;
    }
    return new Patcher(created.session, runner, weights, { device, strategy, reason, warnings, fallback: created.fallback, inputName, outputName, maxBatch: model.maxBatch() });
  }

  /**
   * The `inplace` strategy: the plain session saves its optimised model, a probe finds where the
   * patched values lie in it, and one live session runs from those bytes (in-place.ts). Under
   * `auto`, a model whose switches would re-create that session (a patched tensor onnxruntime copies)
   * keeps it only when the measured creation fits INPLACE_RECREATE_MAX_MS.
   */
  private static async inPlace(
    model: OnnxModel,
    bytes: Uint8Array,
    patched: string[],
    weights: WeightPatch,
    o: { threads?: number; devices: DeviceInfo[]; auto: boolean; warnings: string[]; inputName: string; outputName: string; fallback?: string },
  ): Promise<Patcher> {
    const sessions = cpuSessions(o.threads, o.devices);
    const { plain, ortBytes, layout } = await probeLayout(model, patched, sessions, bytes);
    let runner: InPlaceRunner;
    let unpacked = '';
    try {
      const clean = new Map(patched.map((name) => [name, model.floats(name)]));
      const check = writeCheck(model, o.inputName, o.outputName, clean);
      runner = await InPlaceRunner.create(model.file, ortBytes, layout, sessions, check);
      if (!runner.prepack && check) {
        const slower = await slowdown(plain, runner, check.feeds, o.outputName);
        unpacked = `; pre-packing off, ${slower.ratio.toFixed(3)}× the plain session at load`;
        // A difference of a few hundredths of a millisecond is noise, whatever its ratio.
        if (o.auto && slower.ratio > INPLACE_UNPACKED_MAX && slower.ms > 0.05) {
          await runner.dispose();
          throw new InPlaceUnsupported(model.file, `with pre-packing off (a patched weight feeds a MatMul or Gemm) it ran ${slower.ratio.toFixed(3)}× the plain session at load (over ${INPLACE_UNPACKED_MAX}×)`);
        }
      }
    } catch (e) {
      await plain.release();
      throw e;
    }
    await plain.release();
    const counts = { alias: 0, widened: 0, copied: 0 };
    for (const t of runner.describe()) counts[t.kind]++;
    let reason = `in place: ${counts.alias + counts.widened} optimised weights written in place${counts.widened ? ` (${counts.widened} small Conv biases widened)` : ''}${unpacked}`;
    if (counts.copied) {
      reason += `, ${counts.copied} small tensors applied by re-creating the session (${runner.createMs.toFixed(1)} ms at load)`;
      if (o.auto && runner.createMs > INPLACE_RECREATE_MAX_MS) {
        await runner.dispose();
        throw new InPlaceUnsupported(model.file, `${counts.copied} small patched tensors are copied by onnxruntime, and re-creating the session for them took ${runner.createMs.toFixed(1)} ms (over ${INPLACE_RECREATE_MAX_MS} ms)`);
      }
    }
    if (!o.auto) reason = `strategy inplace was asked for; ${reason}`;
    return new Patcher(undefined, runner, weights, { device: 'cpu', strategy: 'inplace', reason, warnings: o.warnings, fallback: o.fallback, inputName: o.inputName, outputName: o.outputName, maxBatch: model.maxBatch() });
  }

  /** Loads the model and signature files (keyed by the map's ids, or each file's own id), held to `opts.expect`, and creates a Patcher. */
  static async open(modelPath: string, signatureFiles: readonly string[] | ReadonlyMap<string, string>, opts: PatcherOptions = {}): Promise<Patcher> {
    const model = await loadOnnx(modelPath, { sha256: opts.expect?.model });
    // loadOnnx has read (and so checked) any external data, the other half of loadPack's check.
    if (opts.packModel) checkPackModel(opts.packModel.spec, model, opts.packModel.file);
    const files = Array.isArray(signatureFiles) ? undefined : (signatureFiles as ReadonlyMap<string, string>);
    return Patcher.create(model, await loadSignatures(signatureFiles, opts.expect?.signatures), opts, files);
  }

  /** The mix in use (zero strengths dropped, ids sorted). */
  get mix(): ConditionMix {
    return { ...this.current };
  }

  /** How many times new weights were handed to onnxruntime (mix changes other than to the clean model). */
  get switches(): number {
    return this.applied;
  }

  /** Applies a new mix; the next `run` uses it. The same mix again is a no-op, `{}` is the clean model. */
  setMix(mix: ConditionMix): Promise<void> {
    return this.queue.push(async () => {
      this.alive();
      const next = normalizeMix(mix);
      for (const id of Object.keys(mix)) {
        if (!this.signatureIds.includes(id)) {
          throw new RwsError('mix-unknown', `mix: no signature "${id}" is loaded (loaded: ${this.signatureIds.join(', ') || 'none'})`, { field: id });
        }
      }
      const key = mixKey(next);
      if (key === this.currentKey) return;
      if (key === 'off' || !this.runner) {
        await this.runner?.restore?.();
        this.patchedActive = false;
      } else {
        await this.runner.apply(this.weights.tensorsFor(next, { reuse: true }));
        this.applied++;
        this.patchedActive = true;
      }
      this.current = next;
      this.currentKey = key;
    });
  }

  /** Runs the model on `input` (shape `dims`, batch first) with the current mix; returns the output tensor's values. */
  run(input: Float32Array, dims: number[]): Promise<Float32Array> {
    return this.queue.push(async () => {
      this.alive();
      const expected = dims.reduce((a, b) => a * b, 1);
      if (expected !== input.length) {
        throw new RwsError('input-shape', `input "${this.inputName}": ${input.length} values do not fill shape [${dims.join(', ')}] (${expected})`, { field: this.inputName });
      }
      const feeds = { [this.inputName]: new ort.Tensor('float32', input, dims) };
      let out: ort.Tensor;
      if (this.patchedActive || !this.plain) out = await this.runner!.run(feeds, this.outputName);
      else out = (await this.plain.run(feeds, [this.outputName]))[this.outputName] as ort.Tensor;
      return asFloat32(out, this.outputName);
    });
  }

  /** Releases every session; the Patcher cannot be used afterwards. */
  dispose(): Promise<void> {
    return this.queue.push(async () => {
      if (this.disposed) return;
      this.disposed = true;
      await this.runner?.dispose();
      await this.plain?.release();
    });
  }

  private alive(): void {
    if (this.disposed) throw new RwsError('patcher-disposed', 'the patcher was disposed');
  }
}

function asFloat32(t: ort.Tensor, name: string): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float64' || t.type === 'float16') return Float32Array.from(t.data as ArrayLike<number>);
  throw new RwsError('onnx-type', `output "${name}" is ${t.type}, not a float tensor`, { field: name });
}

/**
 * An input for InPlaceRunner's load-time check: values in [0, 1) for the model's input, batch 1.
 * None when the input has other symbolic dims or another element type (the check is then skipped).
 */
function writeCheck(model: OnnxModel, inputName: string, outputName: string, clean: Map<string, Float32Array>): WriteCheck | undefined {
  const input = model.inputs.find((i) => i.name === inputName)!;
  if (model.inputs.length !== 1 || input.elemType !== DataType.FLOAT) return undefined;
  const dims = input.dims.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? 1 : NaN));
  if (dims.some((d) => !Number.isInteger(d))) return undefined;
  const random = createRandom(17);
  const data = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => random.next());
  return { feeds: { [inputName]: new ort.Tensor('float32', data, dims) }, output: outputName, clean };
}

/**
 * How much slower the live session runs than the plain one on `feeds`: the medians of seven
 * back-to-back pairs (the order alternating) of their ratio and their difference in ms.
 */
async function slowdown(plain: ort.InferenceSession, live: InPlaceRunner, feeds: Record<string, ort.Tensor>, output: string): Promise<{ ratio: number; ms: number }> {
  const timed = async (run: () => Promise<unknown>) => {
    const t = performance.now();
    await run();
    return performance.now() - t;
  };
  const runPlain = () => timed(() => plain.run(feeds, [output]));
  const runLive = () => timed(() => live.run(feeds, output));
  await runPlain();
  await runLive();
  const ratios: number[] = [];
  const diffs: number[] = [];
  for (let i = 0; i < 7; i++) {
    let a: number;
    let b: number;
    if (i % 2) {
      a = await runPlain();
      b = await runLive();
    } else {
      b = await runLive();
      a = await runPlain();
    }
    ratios.push(b / a);
    diffs.push(b - a);
  }
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[xs.length >> 1]!;
  return { ratio: median(ratios), ms: median(diffs) };
}

type SessionMaker = (bytes: Uint8Array) => Promise<ort.InferenceSession>;

/** Template bytes of the whole model with the patched tensors as raw f32 at known offsets. */
function wholeModelTemplate(model: OnnxModel, patched: string[]): HeadTemplate {
  const copy = parseOnnx(model.encode({ embedExternal: true }), { file: model.file });
  for (const name of patched) copy.setFloats(name, model.floats(name));
  return byteTemplate(copy.encode(), patched);
}

/** `session`: the whole model re-created with the patched weights on each change. */
class SessionRunner implements PatchedRunner {
  private session?: ort.InferenceSession;
  constructor(
    private readonly template: HeadTemplate,
    private readonly make: SessionMaker,
  ) {}

  async apply(values: Map<string, Float32Array>): Promise<void> {
    const next = await this.make(this.template.bytes(values));
    const old = this.session;
    this.session = next;
    await old?.release();
  }

  async run(feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
    return (await this.session!.run(feeds, [output]))[output] as ort.Tensor;
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}

/** `head`: a small head session re-created on each change, then a tail session made once. */
class HeadRunner implements PatchedRunner {
  private head?: ort.InferenceSession;

  private constructor(
    private readonly template: HeadTemplate,
    private readonly tail: ort.InferenceSession | undefined,
    private readonly headOutputs: string[],
    private readonly tailInputs: string[],
    private readonly outputsInHead: Set<string>,
    private readonly make: SessionMaker,
  ) {}

  static async create(model: OnnxModel, patched: string[], makeTail: SessionMaker, makeHead: SessionMaker): Promise<HeadRunner> {
    const split = splitModel(model, patched);
    const tail = split.identity ? undefined : await makeTail(split.tail);
    const inHead = new Set(split.modelOutputs.filter((o) => o.part === 'head').map((o) => o.name));
    const makeIt = split.identity ? makeTail : makeHead;
    // Built once now with the clean values, so a head that onnxruntime refuses fails here (where
    // `auto` can still choose another strategy) rather than at the first mix change.
    let head: ort.InferenceSession;
    try {
      head = await makeIt(split.headTemplate.bytes(new Map()));
    } catch (e) {
      await tail?.release();
      throw e;
    }
    const runner = new HeadRunner(split.headTemplate, tail, split.headOutputs, split.tailInputs, inHead, makeIt);
    runner.head = head;
    return runner;
  }

  async apply(values: Map<string, Float32Array>): Promise<void> {
    const next = await this.make(this.template.bytes(values));
    const old = this.head;
    this.head = next;
    // The old head is not needed for the new mix to take effect: free it after the current turn
    // (typically after the next inference), so a switch does not wait for it.
    if (old) setImmediate(() => void old.release().catch(() => {}));
  }

  async run(feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
    const headFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.head!.inputNames) headFeeds[name] = feeds[name]!;
    const mid = await this.head!.run(headFeeds, this.headOutputs);
    if (this.outputsInHead.has(output) || !this.tail) return mid[output] as ort.Tensor;
    const tailFeeds: Record<string, ort.Tensor> = {};
    for (const name of this.tailInputs) tailFeeds[name] = (mid[name] ?? feeds[name]) as ort.Tensor;
    return (await this.tail.run(tailFeeds, [output]))[output] as ort.Tensor;
  }

  async dispose(): Promise<void> {
    await this.head?.release();
    await this.tail?.release();
    this.head = undefined;
  }
}

/** `inputs`: one session where the patched tensors are graph inputs, fed with the current values. */
class InputsRunner implements PatchedRunner {
  private values = new Map<string, ort.Tensor>();

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly dims: Map<string, number[]>,
  ) {}

  static async create(model: OnnxModel, patched: string[], make: SessionMaker): Promise<InputsRunner> {
    const copy = parseOnnx(model.encode({ embedExternal: true }), { file: model.file });
    const g = copy.graph;
    const names = new Set(patched);
    const dims = new Map<string, number[]>();
    for (const t of g.initializer) if (names.has(t.name)) dims.set(t.name, t.dims.map(Number));
    g.initializer = g.initializer.filter((t) => !names.has(t.name));
    // Older exporters also list initializers as graph inputs; keep one entry per name.
    g.input = g.input.filter((v) => !names.has(v.name));
    for (const name of patched) {
      const shape = { dim: dims.get(name)!.map((d) => ({ dim_value: d })) };
      g.input.push({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape } } } as never);
    }
    return new InputsRunner(await make(copy.encode()), dims);
  }

  async apply(values: Map<string, Float32Array>): Promise<void> {
    const next = new Map<string, ort.Tensor>();
    // Copies: WeightPatch reuses its buffers, and the tensors must hold until the next apply.
    for (const [name, v] of values) next.set(name, new ort.Tensor('float32', v.slice(), this.dims.get(name)!));
    this.values = next;
  }

  async run(feeds: Record<string, ort.Tensor>, output: string): Promise<ort.Tensor> {
    return (await this.session.run({ ...feeds, ...Object.fromEntries(this.values) }, [output]))[output] as ort.Tensor;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
