// The Patcher's API on the calling thread, with the Patcher itself in a worker thread
// (inference-worker.ts): onnxruntime's create and run block their thread, and the thread that
// runs a UI, a server or a camera loop must keep answering. Input and output buffers are
// transferred rather than copied where the caller allows it.
import { Worker } from 'node:worker_threads';
import { errorFromInfo, errorInfo, RwsError, type ErrorInfo } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { PatcherOptions, PatchStrategy } from './patcher.js';

/** workerData key telling inference-worker.js that RemotePatcher started it. */
export const WORKER_MARK = 'rwsInferenceWorker';

/** What the Patcher options look like across the thread boundary (no probe overrides). */
export type RemotePatcherOptions = Omit<PatcherOptions, 'devices'>;

/** A request from RemotePatcher. */
export type WorkerRequest =
  | { id: number; op: 'create'; modelPath: string; signatureFiles: string[] | Map<string, string>; opts: RemotePatcherOptions }
  | { id: number; op: 'setMix'; mix: ConditionMix }
  | { id: number; op: 'run'; input: Float32Array; dims: number[] }
  | { id: number; op: 'dispose' };

/** What `create` reports back. */
export interface CreatedInfo {
  device: string;
  strategy: PatchStrategy;
  warnings: string[];
  fallback?: string;
  inputName: string;
  outputName: string;
  signatureIds: string[];
  maxBatch?: number;
}

/** An error as it crosses the thread boundary: core's ErrorInfo, with the worker's stack for a crash. */
export type WireError = ErrorInfo & { stack?: string };

/** What `run` answers: the scores, and the input's buffer handed back for reuse. */
export interface RunReply {
  scores: Float32Array;
  input: ArrayBuffer;
}

/** Input buffers RemotePatcher keeps for reuse (a batch size or two, and a camera frame). */
const SPARE_BUFFERS = 4;

/** The worker's answer to request `id`. */
export type WorkerReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: WireError };

/** An error as it crosses the thread boundary: RwsErrors keep code, message, file and field. */
export function toWire(e: unknown): WireError {
  const w: WireError = errorInfo(e);
  if (!(e instanceof RwsError) && e instanceof Error && e.stack) w.stack = e.stack;
  return w;
}

/** The error again on this side of the boundary. */
export function fromWire(w: WireError): Error {
  const e = errorFromInfo(w);
  if (w.stack) e.stack = `${w.message}\n    (in the inference worker)\n${w.stack.split('\n').slice(1).join('\n')}`;
  return e;
}

/** Options of RemotePatcher.create: the Patcher's, plus where the compiled worker script is. */
export interface RemoteOptions extends RemotePatcherOptions {
  /** The compiled inference-worker.js (default: next to this file). */
  workerUrl?: URL | string;
  /**
   * A gate the worker waits on before each run until its first value is not 0 (Atomics.wait), so
   * a caller (a test) can hold a run in the worker at a known point and release it.
   */
  runGate?: Int32Array<SharedArrayBuffer>;
}

/** Options of RemotePatcher.run. */
export interface RemoteRunOptions {
  /**
   * Hand the input's buffer to the worker instead of copying it; the caller's array is detached
   * (length 0) afterwards, and its buffer is reused for later runs. Only done when the array spans
   * its whole ArrayBuffer (a view is copied either way, and the caller's buffer is left alone).
   */
  transfer?: boolean;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** A Patcher running in a worker thread, with the same setMix / run / dispose calls. */
export class RemotePatcher {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead?: Error;
  private current: ConditionMix = {};
  private info?: CreatedInfo;
  /** Input buffers back from the worker, newest first, for the next runs. */
  private spare: ArrayBuffer[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(fromWire(reply.error));
    });
    worker.on('error', (e) => this.fail(new RwsError('worker-crashed', `the inference worker crashed: ${e.message}`)));
    worker.on('exit', (code) => this.fail(new RwsError('worker-exited', `the inference worker exited (code ${code})`)));
  }

  /** Starts a worker, loads the model and signatures there, and checks them as Patcher.create does. */
  static async create(modelPath: string, signatureFiles: readonly string[] | ReadonlyMap<string, string>, opts: RemoteOptions = {}): Promise<RemotePatcher> {
    const { workerUrl, runGate, ...patcherOpts } = opts;
    const remote = RemotePatcher.start({ workerUrl, runGate });
    await remote.open(modelPath, signatureFiles, patcherOpts);
    return remote;
  }

  /**
   * Starts a worker that holds no model yet: it loads onnxruntime and the patcher while the caller
   * does other work (rws run plans its run meanwhile). `open` gives it the model; `dispose` stops it.
   */
  static start(opts: Pick<RemoteOptions, 'workerUrl' | 'runGate'> = {}): RemotePatcher {
    // Beside this file, with its extension: .js compiled, .cjs in the CLI's bundle (scripts/bundle-cli.mjs).
    const url = opts.workerUrl ?? new URL(`./inference-worker${import.meta.url.endsWith('.cjs') ? '.cjs' : '.js'}`, import.meta.url);
    const worker = new Worker(url, { workerData: { [WORKER_MARK]: true, ...(opts.runGate ? { runGate: opts.runGate } : {}) } });
    return new RemotePatcher(worker);
  }

  /** Whether the worker keeps the process alive (it does from `start`; a worker started ahead of its use need not). */
  keepAlive(on: boolean): void {
    if (on) this.worker.ref();
    else this.worker.unref();
  }

  /** Loads the model and signatures in the worker started by `start` (once); the worker is stopped if that fails. */
  async open(modelPath: string, signatureFiles: readonly string[] | ReadonlyMap<string, string>, opts: RemotePatcherOptions = {}): Promise<void> {
    const files = Array.isArray(signatureFiles) ? [...signatureFiles] : new Map(signatureFiles as ReadonlyMap<string, string>);
    try {
      this.info = (await this.call({ op: 'create', modelPath, signatureFiles: files, opts })) as CreatedInfo;
    } catch (e) {
      await this.worker.terminate();
      throw e;
    }
  }

  get device(): string {
    return this.created.device;
  }
  get strategy(): PatchStrategy {
    return this.created.strategy;
  }
  get warnings(): string[] {
    return this.created.warnings;
  }
  get fallback(): string | undefined {
    return this.created.fallback;
  }
  get inputName(): string {
    return this.created.inputName;
  }
  get outputName(): string {
    return this.created.outputName;
  }
  get signatureIds(): string[] {
    return this.created.signatureIds;
  }
  /** The largest batch the model takes, or none when its batch dimension is free. */
  get maxBatch(): number | undefined {
    return this.created.maxBatch;
  }
  private get created(): CreatedInfo {
    if (!this.info) throw new RwsError('worker-state', 'the inference worker has no model yet (call open)');
    return this.info;
  }

  /** The mix in use, as of the last setMix that completed. */
  get mix(): ConditionMix {
    return { ...this.current };
  }

  /** Applies a new mix in the worker; the next run uses it. */
  async setMix(mix: ConditionMix): Promise<void> {
    this.current = (await this.call({ op: 'setMix', mix: { ...mix } })) as ConditionMix;
  }

  /**
   * Runs the model in the worker; the output comes back without a copy. The input travels in a
   * buffer that the worker hands back after the run and the next run reuses: a clone per run
   * would leave the worker a garbage buffer each time, which its isolate, allocating little
   * else, frees only every few dozen MB (the folder soak's RSS grew by that much).
   */
  async run(input: Float32Array, dims: number[], opts: RemoteRunOptions = {}): Promise<Float32Array> {
    const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength && input.buffer instanceof ArrayBuffer;
    let data: Float32Array;
    if (whole && opts.transfer) data = input;
    else {
      data = new Float32Array(this.takeSpare(input.byteLength), 0, input.length);
      data.set(input);
    }
    const reply = (await this.call({ op: 'run', input: data, dims: [...dims] }, [data.buffer as ArrayBuffer])) as RunReply;
    this.keepSpare(reply.input);
    return reply.scores;
  }

  /** A buffer of exactly `bytes` from the ones the worker handed back, or a new one. */
  private takeSpare(bytes: number): ArrayBuffer {
    const i = this.spare.findIndex((b) => b.byteLength === bytes);
    return i < 0 ? new ArrayBuffer(bytes) : this.spare.splice(i, 1)[0]!;
  }

  /** Keep an input buffer for reuse: the newest few, so a change of batch or frame size does not pin old ones. */
  private keepSpare(buffer: ArrayBuffer): void {
    this.spare.unshift(buffer);
    if (this.spare.length > SPARE_BUFFERS) this.spare.length = SPARE_BUFFERS;
  }

  /** Releases the sessions and stops the worker. */
  async dispose(): Promise<void> {
    if (this.dead || !this.info) {
      // A worker started but never given a model (or a model still loading): stop it; a pending open fails.
      this.fail(new RwsError('patcher-disposed', 'the patcher was disposed'));
      await this.worker.terminate();
      return;
    }
    try {
      await this.call({ op: 'dispose' });
    } finally {
      this.dead = new RwsError('patcher-disposed', 'the patcher was disposed');
      await this.worker.terminate();
    }
  }

  private call(req: DistributiveOmit<WorkerRequest, 'id'>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
