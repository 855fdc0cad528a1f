// The live patcher: θ = θ_clean + Σ α·RWS on the model's shallow tensors, applied to a running
// onnxruntime model without rebuilding all of it. Three ways to get new weights into onnxruntime
// (overridable initializers are silently ignored by onnxruntime-node, so they are not one of them):
//   head    – the model cut after the last patched layer; the small head's session is re-created
//             from template bytes on each mix change, the tail's session is made once.
//   session – the whole model's session re-created from template bytes on each mix change.
//   inputs  – the patched tensors become graph inputs, fed on every run (one session, but the
//             convs leave onnxruntime's fused path: +12 to +50% per inference).
// The clean model always runs through its own plain session, so an empty mix gives exactly the
// plain model's outputs and switching a patch off costs nothing.
import * as ort from 'onnxruntime-node';
import { RwsError } from '../../core/errors.js';
import { mixKey, normalizeMix } from '../../core/mix.js';
import type { ConditionMix, Signature } from '../../core/signature.js';
import { WeightPatch } from '../../core/weight-patch.js';
import { listDevices, type Device, type DeviceInfo } from './devices.js';
import { loadOnnx, parseOnnx, type OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import { byteTemplate, splitModel, type HeadTemplate } from '../onnx/split.js';
import { createSession } from './session.js';
import { assertHonestExport, withoutInitializerInputs } from '../onnx/export-check.js';

export { loadSignatures };
import { checkSignatures, loadSignatures } from '../signatures/fit.js';

/** How patched weights reach onnxruntime (see the top of this file). */
export type PatchStrategy = 'head' | 'session' | 'inputs';

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

/** The strategy `auto` stands for on this model: `session` for small models, `head` otherwise. */
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
  readonly inputName: string;
  readonly outputName: string;
  /** Ids of the loaded signatures. */
  readonly signatureIds: string[];

  private applied = 0;
  private current: ConditionMix = {};
  private currentKey = 'off';
  private patchedActive = false;
  private disposed = false;
  private readonly queue = new Queue();

  private constructor(
    private readonly plain: ort.InferenceSession,
    private readonly runner: PatchedRunner | undefined,
    private readonly weights: WeightPatch,
    init: { device: string; strategy: PatchStrategy; warnings: string[]; fallback?: string; inputName: string; outputName: string },
  ) {
    this.device = init.device;
    this.strategy = init.strategy;
    this.warnings = init.warnings;
    if (init.fallback) this.fallback = init.fallback;
    this.inputName = init.inputName;
    this.outputName = init.outputName;
    this.signatureIds = weights.signatureIds();
  }

  /**
   * Refuses a model exported in training mode; checks every signature against the model (each
   * tensor must exist, and its SHA-256 must match the signature's base hash unless forced), then
   * builds the sessions for the chosen strategy.
   */
  static async create(exported: OnnxModel, signatures: Map<string, Signature>, opts: PatcherOptions = {}): Promise<Patcher> {
    const warnings = assertHonestExport(exported);
    const model = withoutInitializerInputs(exported);
    const usable = checkSignatures(model, signatures, opts.force ?? false, warnings);
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
    const sessionOpts = { device: opts.device ?? 'auto', threads: opts.threads, devices: opts.devices ?? listDevices() };
    const created = await createSession(model.encode({ embedExternal: true }), sessionOpts);
    const device = created.device;
    const auto = !opts.strategy || opts.strategy === 'auto';
    let strategy = auto ? chooseStrategy(model, patched) : (opts.strategy as PatchStrategy);

    let runner: PatchedRunner | undefined;
    const make = (bytes: Uint8Array) => createSession(bytes, { ...sessionOpts, device }).then((s) => s.session);
    const makeHead = (bytes: Uint8Array) => createSession(bytes, { ...sessionOpts, device, memPattern: false }).then((s) => s.session);
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
          runner = await build(strategy);
        }
      }
    } catch (e) {
      await created.session.release();
      throw e;
    }
    return new Patcher(created.session, runner, weights, { device, strategy, warnings, fallback: created.fallback, inputName, outputName });
  }

  /** Loads the model and signature files (keyed by the map's ids, or each file's own id) and creates a Patcher. */
  static async open(modelPath: string, signatureFiles: readonly string[] | ReadonlyMap<string, string>, opts: PatcherOptions = {}): Promise<Patcher> {
    const model = await loadOnnx(modelPath);
    return Patcher.create(model, await loadSignatures(signatureFiles), opts);
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
      if (this.patchedActive) out = await this.runner!.run(feeds, this.outputName);
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
      await this.plain.release();
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
