// The gradient backend for `rws train`: the user's ONNX graph run by PyTorch, op by op
// (onnx_torch.py), in a Python process this module starts and talks to. onnxruntime-node runs
// models but cannot train them, so gradients come from Debian's python3-torch, an optional
// training dependency: `rws run`, `rws serve` and the app never start Python.
//
// Chosen by measurement (`npm run bench train`; a loaded 2-core machine, one thread): one SGD
// step on the first 5 layers of a ResNet-18-sized model, batch 32, 224×224, took 7.0-7.8 s through
// this converter and 8.7 s through the same network written natively in torch (the per-node
// Python dispatch costs nothing measurable beside the convolutions). One onnxruntime forward pass
// took 2.1-2.4 s, so a backward graph built as ONNX and run by onnxruntime (a forward and two
// backward passes of about that size) would be no faster, after writing a gradient for every op
// of every family. onnxruntime's own training artifacts need its Python training package, which
// neither Debian nor npm carries (its last release was 1.19, 2024).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { RwsError } from '../../core/errors.js';
import { decodeSafetensors, encodeSafetensors } from '../../core/safetensors.js';
import { installRoot } from '../io/install-root.js';
import type { OnnxModel } from '../onnx/model.js';
import { torchPlan } from './torch-plan.js';

/** The Python that has torch: `$RWS_PYTHON`, else Debian's `/usr/bin/python3`, else `python3` on the PATH. */
export function pythonCommand(): string {
  if (process.env.RWS_PYTHON) return process.env.RWS_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** The converter script, shipped as source beside this module's. */
export function converterScript(): string {
  return path.join(installRoot(), 'main', 'engine', 'train', 'onnx_torch.py');
}

export interface TorchGraphOptions {
  /** Initializers to train (the first K layers' tensors); every other weight stays fixed. */
  trainable?: string[];
  /** torch's intra-op threads (default: torch's own choice, all cores). */
  threads?: number;
  /** SGD learning rate and momentum (Nesterov's when `nesterov`). */
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  /** Weight decay towards the starting weights (a signature is a small move from them). */
  weightDecay?: number;
  /**
   * BatchNorm statistics of the trained layers follow the training batches, as in torch's train
   * mode: a BatchNormalization after a trained layer adapts its running statistics, and a trained
   * Conv whose BatchNorm the export folded away gets a virtual one (see `calibrate`), folded back
   * into its weight and bias when they are read.
   */
  adapt?: boolean;
  python?: string;
}

/**
 * The backend's environment: glibc keeps freed memory instead of returning it after every op
 * (measured 3-8× faster steps on a loaded 2-core machine), and idle OpenMP threads sleep instead
 * of spinning against the caller's own work. Anything the user set wins.
 */
function backendEnv(threads: number): NodeJS.ProcessEnv {
  return {
    MALLOC_TRIM_THRESHOLD_: '1000000000',
    MALLOC_TOP_PAD_: '1000000000',
    MALLOC_MMAP_THRESHOLD_: '1000000000',
    OMP_WAIT_POLICY: 'PASSIVE',
    ...process.env,
    OMP_NUM_THREADS: String(threads),
  };
}

/**
 * What to train towards: class indices, or probabilities over the output's last axis for every
 * position of the output (per image for a classifier, e.g. the clean model's own; per box for a detector).
 */
export type StepTarget = { labels: number[] } | { probabilities: Float32Array };

export interface StepResult {
  loss: number;
  /** Images (positions) whose top class is the target's. */
  hits: number;
  /** L2 norm of each trainable tensor's gradient (null: no gradient reached it). */
  gradNorms: Record<string, number | null>;
  /** Forward, backward and update, measured inside the backend. */
  seconds: number;
  /** Each trainable tensor's gradient, when asked for. */
  gradients?: Map<string, Float32Array>;
}

interface Reply {
  id?: number;
  ok: boolean;
  value?: any;
  code?: string;
  error?: string;
}

/** The float32 tensors of a safetensors file the backend wrote (integer ones, shape constants, are left out). */
function floatsOf(bytes: Uint8Array, file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, t] of decodeSafetensors(bytes, file).tensors) {
    if (t.dtype !== 'F32') continue;
    const copy = new Uint8Array(t.data.length);
    copy.set(t.data);
    out.set(name, new Float32Array(copy.buffer));
  }
  return out;
}

function f32Input(name: string, values: Float32Array, shape: number[]) {
  return { name, dtype: 'F32' as const, shape, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** An ONNX model loaded into the torch backend: run it, or take SGD steps on its trainable tensors. */
export class TorchGraph {
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = new Map<number, (r: Reply) => void>();
  private stderr = '';
  private exited?: string;

  /** The model loaded now: its input, the file it came from, and what is trained. */
  inputName = 'input';
  file = '';
  /** The tensors that get gradients and SGD updates. */
  trainable: string[] = [];
  /** BatchNorm running statistics asked to be trained: measured, not learned (fixed, or adapting with `adapt`). */
  statistics: string[] = [];
  /** Decomposed LayerNorms and GELUs (torch's exports below opset 17) the backend runs as one op each, by op. */
  fused: Record<string, number> = {};
  /** With `adapt`: the BatchNormalization nodes whose statistics adapt, and the Convs given a virtual BatchNorm. */
  adapted: string[] = [];
  virtual: string[] = [];

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly dir: string,
  ) {}

  /** Starts the backend and loads `model` into it; errors say what is missing (Python, torch, an op). */
  static async open(model: OnnxModel, opts: TorchGraphOptions = {}): Promise<TorchGraph> {
    const python = opts.python ?? pythonCommand();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rws-train-'));
    const child = spawn(python, [converterScript()], { stdio: ['pipe', 'pipe', 'pipe'], env: backendEnv(opts.threads ?? os.availableParallelism()) });
    const g = new TorchGraph(child, dir);
    try {
      await g.started(python);
      await g.load(model, opts);
    } catch (e) {
      await g.close();
      throw e;
    }
    return g;
  }

  /** Loads another model into the same backend (starting Python and torch takes a second or two); the previous one is dropped. */
  async load(model: OnnxModel, opts: Omit<TorchGraphOptions, 'python'> = {}): Promise<void> {
    const { plan, weights } = torchPlan(model);
    const planFile = path.join(this.dir, 'plan.json');
    const weightsFile = path.join(this.dir, 'weights.safetensors');
    await writeFile(planFile, JSON.stringify(plan));
    await writeFile(weightsFile, weights);
    this.file = model.file;
    const r = await this.request({
      op: 'load',
      plan: planFile,
      weights: weightsFile,
      trainable: opts.trainable ?? [],
      threads: opts.threads,
      lr: opts.lr,
      momentum: opts.momentum,
      nesterov: opts.nesterov,
      weightDecay: opts.weightDecay,
      adapt: opts.adapt,
    });
    await Promise.all([rm(planFile, { force: true }), rm(weightsFile, { force: true })]);
    this.inputName = model.inputs[0]?.name ?? 'input';
    this.trainable = r.trainable;
    this.statistics = r.statistics;
    this.adapted = r.adapted;
    this.virtual = r.virtual;
    this.fused = r.fused ?? {};
  }

  private started(python: string): Promise<void> {
    const missing = (why: string) =>
      new RwsError('train-python', `training needs PyTorch: ${python} ${why}; install Debian's python3-torch (apt-get install python3-torch) or point RWS_PYTHON at a Python that has torch`, { field: 'RWS_PYTHON' });
    return new Promise((resolve, reject) => {
      this.child.stderr.on('data', (d: Buffer) => {
        this.stderr = (this.stderr + d.toString()).slice(-4000);
      });
      this.child.on('error', (e: NodeJS.ErrnoException) => {
        this.exited = `the training backend could not be started (${e.code ?? e.message})`;
        reject(missing(`could not be started (${e.code ?? e.message})`));
      });
      const lines = createInterface({ input: this.child.stdout });
      let ready = false;
      lines.on('line', (line) => {
        let msg: Reply & { ready?: boolean };
        try {
          msg = JSON.parse(line);
        } catch {
          // Never wait forever for a reply that came out unreadable.
          const error = `the training backend wrote a line that is not a reply: ${line.slice(0, 200)}`;
          for (const [, done] of this.pending) done({ ok: false, code: 'train-backend', error });
          this.pending.clear();
          return;
        }
        if (!ready && msg.ready) {
          ready = true;
          resolve();
          return;
        }
        const done = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (done) {
          this.pending.delete(msg.id!);
          done(msg);
        }
      });
      this.child.on('exit', (code, signal) => {
        this.exited = `the training backend exited (${signal ?? `code ${code}`})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        if (!ready) reject(/No module named 'torch'/.test(this.stderr) ? missing('has no torch module') : new RwsError('train-backend', this.exited));
        for (const [, done] of this.pending) done({ ok: false, code: 'train-backend', error: this.exited });
        this.pending.clear();
      });
    });
  }

  private request(body: Record<string, unknown>): Promise<any> {
    const run = async () => {
      if (this.exited) throw new RwsError('train-backend', this.exited);
      const id = this.nextId++;
      const reply = await new Promise<Reply>((resolve) => {
        this.pending.set(id, resolve);
        this.child.stdin.write(`${JSON.stringify({ ...body, id })}\n`);
      });
      if (!reply.ok) throw new RwsError(reply.code ?? 'train-backend', `${this.file}: ${reply.error}`, { file: this.file });
      return reply.value;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async writeInput(input: Float32Array, dims: number[], extra: { name: string; values: Float32Array; shape: number[] }[] = []): Promise<string> {
    const file = path.join(this.dir, `in-${this.nextId}.safetensors`);
    await writeFile(file, encodeSafetensors([f32Input(this.inputName, input, dims), ...extra.map((e) => f32Input(e.name, e.values, e.shape))], {}));
    return file;
  }

  /**
   * How many times slower torch's matrix products (MatMul, Gemm) run here than the same product as
   * a convolution: about 1 with OpenBLAS or MKL, 8-14 with the reference BLAS Debian's python3-torch
   * gets when no other is installed (measured in a tenth of a second).
   */
  async blasSlowdown(): Promise<number> {
    const { slowdown } = await this.request({ op: 'blas' });
    return slowdown;
  }

  /** Every output of the graph for `input` (no gradients); `chunk`: run it that many images at a time (a model with a fixed batch). */
  async forward(input: Float32Array, dims: number[], opts: { chunk?: number } = {}): Promise<Float32Array[]> {
    const inFile = await this.writeInput(input, dims);
    const out = path.join(this.dir, `out-${this.nextId}.safetensors`);
    const { outputs } = await this.request({ op: 'forward', input: inFile, out, chunk: opts.chunk });
    const values = floatsOf(await readFile(out), out);
    await Promise.all([rm(inFile, { force: true }), rm(out, { force: true })]);
    return Array.from({ length: outputs }, (_, i) => {
      const v = values.get(`out${i}`);
      if (!v) throw new RwsError('train-backend', `${this.file}: output ${i} is not a float tensor`, { file: this.file });
      return v;
    });
  }

  /**
   * One SGD step on the trainable tensors: cross-entropy of output `output` (default the first)
   * against `target`; `update: false` computes the gradients without applying them. `lr` and
   * `momentum` hold from this step on; `chunk` runs the batch that many images at a time (a model
   * exported with a fixed batch), summing the gradients; `probabilities`: the output is a softmax already.
   */
  async step(
    input: Float32Array,
    dims: number[],
    target: StepTarget,
    opts: { lr?: number; momentum?: number; output?: number; chunk?: number; probabilities?: boolean; gradients?: boolean; update?: boolean } = {},
  ): Promise<StepResult> {
    const targets = 'probabilities' in target ? path.join(this.dir, `targets-${this.nextId}.safetensors`) : undefined;
    if (targets && 'probabilities' in target) {
      const classes = target.probabilities.length / dims[0]!;
      await writeFile(targets, encodeSafetensors([f32Input('targets', target.probabilities, [dims[0]!, classes])], {}));
    }
    const inFile = await this.writeInput(input, dims);
    const gradFile = opts.gradients ? path.join(this.dir, `grads-${this.nextId}.safetensors`) : undefined;
    const r = await this.request({
      op: 'step',
      input: inFile,
      ...('labels' in target ? { labels: target.labels } : { targets }),
      lr: opts.lr,
      momentum: opts.momentum,
      output: opts.output ?? 0,
      chunk: opts.chunk,
      probabilities: opts.probabilities,
      gradients: gradFile,
      update: opts.update ?? true,
    });
    const result: StepResult = { loss: r.loss, hits: r.hits, gradNorms: r.gradNorms, seconds: r.seconds };
    if (gradFile) result.gradients = floatsOf(await readFile(gradFile), gradFile);
    await Promise.all([inFile, targets, gradFile].filter((f): f is string => Boolean(f)).map((f) => rm(f, { force: true })));
    return result;
  }

  /** The current values of the named weights (default: all). */
  async weights(names?: string[]): Promise<Map<string, Float32Array>> {
    const out = path.join(this.dir, `weights-${this.nextId}.safetensors`);
    await this.request({ op: 'weights', names: names ?? null, out });
    const values = floatsOf(await readFile(out), out);
    await rm(out, { force: true });
    return values;
  }

  /**
   * Shows clean images to the virtual BatchNorms (`adapt`): their statistics are gathered over
   * every call, and with `done` each starts as the identity on them.
   */
  async calibrate(input: Float32Array, dims: number[], done: boolean): Promise<void> {
    const inFile = await this.writeInput(input, dims);
    await this.request({ op: 'calibrate', input: inFile, done });
    await rm(inFile, { force: true });
  }

  /** Writes the trainable tensors and the optimizer's momentum to `file` (safetensors): what `restore` needs to go on. */
  async save(file: string): Promise<void> {
    await this.request({ op: 'save', out: file });
  }

  /** Loads what `save` wrote: the trainable tensors and the optimizer's momentum. */
  async restore(file: string): Promise<void> {
    await this.request({ op: 'restore', file });
  }

  /** Stops the backend and removes its files. */
  async close(): Promise<void> {
    if (!this.exited) {
      this.child.stdin.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.child.kill();
          resolve();
        }, 5000);
        this.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Matrix products this many times slower than convolutions: said (OpenBLAS measures about 1, the reference BLAS 8-20). */
export const BLAS_WARN = 4;

/**
 * What to say when the model has more matrix products than a classifier's last layer and torch runs
 * them slowly here; the backend measures its BLAS only for such a model.
 */
export async function blasNote(graph: Pick<TorchGraph, 'blasSlowdown'>, model: OnnxModel): Promise<string | undefined> {
  const products = model.nodes().filter((n) => n.op_type === 'MatMul' || n.op_type === 'Gemm').length;
  if (products < 2) return undefined;
  const slowdown = await graph.blasSlowdown();
  if (slowdown < BLAS_WARN) return undefined;
  return `torch's matrix products run ${slowdown.toFixed(0)}× slower here than its convolutions (the reference BLAS): this model's ${products} MatMul and Gemm nodes run that much slower in training; install an optimised BLAS (Debian: apt-get install libopenblas0-pthread)`;
}
