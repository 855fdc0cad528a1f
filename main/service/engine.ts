import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { RwsError } from '../core/errors.js';
import { CrashBudget, deviceAfterCrash, isWorkerCrash } from '../core/crash-policy.js';
import { mixKey } from '../core/mix.js';
import type { ConditionMix, DeviceChange, DeviceId, EngineState, EngineStatus, FolderProgress, PackInfo } from '../api/contract.js';
import { defaultPackDir, loadPack as loadPackDir, type ModelPack } from '../engine/packs/pack.js';
import type { WalkResult } from '../engine/folder/walk.js';
import { EventHub } from './events.js';
import { FolderJob, type FolderJobSpec } from './folder-job.js';
import { remoteClassifier, type Classifier, type ClassifierFactory, type LoadedPack } from './models.js';
import { describePack } from './pack-info.js';
import { RootGuard } from './root-guard.js';

export interface EngineOptions {
  /** Folders inputs and outputs must lie in (rws serve); undefined = any path (the desktop app, whose user picks paths). */
  roots?: string[];
  /** Pack loaded when a command needs one and none was loaded; default the shipped pack. */
  packDir?: string;
  device?: DeviceId;
  /** How models are made; default the engine's RemotePatcher (ORT in a worker thread). */
  classifierFactory?: ClassifierFactory;
  /** The compiled inference worker, for a bundled app whose worker is not beside the patcher's code. */
  workerUrl?: URL | string;
  /** Name of the folder under the first root that uploads go into. */
  uploadsFolder?: string;
}

/** Inference-worker crashes the camera's models survive before the engine reports an error instead. */
const MAX_WORKER_CRASHES = 5;

/**
 * The state every command works on: the loaded pack and its models, the device, the current mix,
 * the folder run, and the event hub that transports forward. One per process hosting the engine.
 * Its state changes only through its own methods; commands read it and call them.
 */
export class Engine {
  readonly events = new EventHub();
  readonly guard: RootGuard | null;
  readonly options: EngineOptions;
  private _loaded: LoadedPack | null = null;
  private _requestedDevice: DeviceId;
  private _device: DeviceChange;
  private _mix: ConditionMix = {};
  private status: EngineStatus = 'idle';
  private message?: string;
  private _folder: FolderJob | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly factory: ClassifierFactory;
  private loadingPack?: Promise<LoadedPack>;
  private readonly crashes = new CrashBudget({ max: MAX_WORKER_CRASHES, windowMs: 60_000 });
  /** This engine, as against one started later (a restarted `rws serve`): the UI sets a new one up again. */
  readonly instance = randomBytes(6).toString('hex');
  /** Devices whose provider failed to start here, with why (the models then fell back to the CPU). */
  private readonly failedDevices = new Map<string, string>();
  private evaluation: { controller: AbortController; progress: FolderProgress | null } | null = null;

  private constructor(options: EngineOptions, guard: RootGuard | null) {
    this.options = options;
    this.guard = guard;
    this._requestedDevice = options.device ?? 'auto';
    this._device = { requested: this._requestedDevice, device: this._requestedDevice };
    this.factory = options.classifierFactory ?? remoteClassifier;
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const guard = options.roots ? await RootGuard.create(options.roots) : null;
    return new Engine(options, guard);
  }

  get loaded(): LoadedPack | null {
    return this._loaded;
  }
  get mix(): ConditionMix {
    return this._mix;
  }
  get device(): DeviceChange {
    return this._device;
  }
  get requestedDevice(): DeviceId {
    return this._requestedDevice;
  }
  get folder(): FolderJob | null {
    return this._folder;
  }

  /** A patched model of the loaded pack with the given signatures (default: every available one). */
  async makePatched(loaded: Pick<LoadedPack, 'pack' | 'info'>, ids?: (id: string) => boolean): Promise<Classifier> {
    const available = new Set(loaded.info.signatures.filter((s) => s.available).map((s) => s.id));
    const files = new Map([...loaded.pack.signatureFiles].filter(([id]) => available.has(id) && (!ids || ids(id))));
    const force = loaded.pack.manifest.signatures.filter((s) => s.transfer && files.has(s.id)).map((s) => s.id);
    return this.factory(loaded.pack.modelPath, files, this.classifierOptions(loaded.pack, force));
  }

  /** Options of a model of `pack`: the device, its input, output and strategy, and the files held to the bytes checked at the pack's load. */
  private classifierOptions(pack: ModelPack, force: string[]) {
    const m = pack.manifest;
    const signatures = Object.fromEntries(m.signatures.map((s) => [s.id, s.sha256]));
    return {
      device: this._requestedDevice,
      force,
      inputName: m.input.name,
      outputName: m.output.name,
      strategy: m.patching.strategy,
      expect: { model: pack.modelSha256, signatures },
      ...(this.options.workerUrl ? { workerUrl: this.options.workerUrl } : {}),
    };
  }

  /** Run model work one call at a time, so a mix change and a frame never interleave. */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** A path to read, checked against the roots (after resolving symlinks) when there are roots. */
  async readable(p: string, field: string): Promise<string> {
    if (this.guard) return this.guard.readable(p, field);
    return path.resolve(p);
  }

  /** A path to write, checked against the roots when there are roots. */
  async writable(p: string, field: string): Promise<string> {
    if (this.guard) return this.guard.writable(p, field);
    return path.resolve(p);
  }

  /** Load a pack (default: the engine's default pack) and make its patched model; the mix is reset to off. */
  loadPack(dir: string | undefined): Promise<LoadedPack> {
    const p = this.exclusive(async () => {
      const where = dir === undefined ? this.options.packDir ?? defaultPackDir() : await this.readable(dir, 'dir');
      this.setStatus('loading', `loading pack ${path.basename(where)}`);
      try {
        const pack = await loadPackDir(where);
        const info = await describePack(pack);
        const patched = await this.makePatched({ pack, info });
        await this.disposeModels();
        this._loaded = { pack, info, patched };
        this._mix = {};
        this.noteDevice(patched);
        this.setStatus('ready');
        return this._loaded;
      } catch (e) {
        this.setStatus(this._loaded ? 'ready' : 'error', (e as Error).message);
        throw e;
      }
    });
    // Concurrent callers of requirePack share this load.
    this.loadingPack = p;
    const clear = () => {
      if (this.loadingPack === p) this.loadingPack = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The loaded pack, loading the default one first if none is. */
  async requirePack(): Promise<LoadedPack> {
    if (this._loaded) return this._loaded;
    if (this.loadingPack) return this.loadingPack;
    return this.loadPack(undefined);
  }

  /** The clean model of the loaded pack, created on first use. */
  async cleanClassifier(): Promise<Classifier> {
    const loaded = await this.requirePack();
    if (loaded.clean) return loaded.clean;
    // Concurrent first frames share one creation.
    loaded.cleanPending ??= (async () => {
      const c = await this.factory(loaded.pack.modelPath, new Map(), this.classifierOptions(loaded.pack, []));
      if (this._loaded !== loaded) {
        await c.dispose();
        throw new RwsError('engine-changed', 'the pack or device changed while the clean model was being made; try again');
      }
      loaded.clean = c;
      return c;
    })().finally(() => {
      loaded.cleanPending = undefined;
    });
    return loaded.cleanPending;
  }

  /** Patch the loaded pack's model with `mix` (already resolved and checked); resolves to the time it took, ms. */
  setMix(mix: ConditionMix): Promise<number> {
    return this.exclusive(async () => {
      const loaded = await this.requirePack();
      const t0 = performance.now();
      await this.survive(loaded, () => this.useMix(loaded, mix));
      return performance.now() - t0;
    });
  }

  /** Inside an exclusive section: patch `mix` into the loaded model and tell the UI. */
  async useMix(loaded: LoadedPack, mix: ConditionMix): Promise<void> {
    await loaded.patched.setMix(mix);
    this._mix = mix;
    this.publishState();
  }

  /** Re-create the models on another execution provider, keeping the mix. */
  async setDevice(device: DeviceId): Promise<DeviceChange> {
    const previous = this._requestedDevice;
    this._requestedDevice = device;
    const loaded = this._loaded;
    if (!loaded) {
      this._device = { requested: device, device };
      this.events.emit('deviceChange', this._device);
      this.publishState();
      return this._device;
    }
    return this.exclusive(async () => {
      this.setStatus('loading', `moving the models to ${device}`);
      try {
        await this.remakeModels(loaded);
      } catch (e) {
        this._requestedDevice = previous;
        this.setStatus('ready', (e as Error).message);
        throw e;
      }
      this.setStatus('ready');
      return this._device;
    });
  }

  /** New models for `loaded` on the requested device with the current mix; the old ones are freed after the switch. */
  private async remakeModels(loaded: LoadedPack): Promise<void> {
    const patched = await this.makePatched(loaded);
    await patched.setMix(this._mix);
    const old = [loaded.patched, loaded.clean];
    loaded.patched = patched;
    loaded.clean = undefined;
    for (const c of old) await Promise.resolve(c?.dispose()).catch(() => undefined);
    this.noteDevice(patched);
  }

  /**
   * Run `f` on the loaded models; if their inference worker died, say so, make them again (on the
   * CPU after a crash on another device: core/crash-policy.ts) with the same mix, and rethrow: the
   * caller's next call works.
   */
  async survive<T>(loaded: LoadedPack, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (!isWorkerCrash(e) || this._loaded !== loaded) throw e;
      const message = (e as Error).message;
      this.events.emit('error', { code: (e as RwsError).code, message, source: 'engine' });
      this.setStatus('crashed', message);
      if (!this.crashes.record()) {
        this.setStatus('error', `the inference worker stopped ${this.crashes.count} times in a minute and was not restarted: ${message}`);
        throw e;
      }
      const after = deviceAfterCrash(this._requestedDevice);
      this._requestedDevice = after.device as DeviceId;
      try {
        await this.remakeModels(loaded);
        if (after.fallback) this._device = { ...this._device, fallback: after.fallback };
        this.events.emit('deviceChange', this._device);
        this.setStatus('ready', `the inference worker stopped and was restarted${after.fallback ? ' on the CPU' : ''}`);
      } catch (again) {
        this.setStatus('error', `the inference worker stopped and could not be restarted: ${(again as Error).message}`);
      }
      throw e;
    }
  }

  /** Start a folder run from a checked spec, in the background (one at a time). */
  async startFolderJob(spec: FolderJobSpec, resume: boolean, walk?: WalkResult): Promise<FolderProgress> {
    const loaded = await this.requirePack();
    this.assertNoRun();
    const job = new FolderJob(this, loaded, spec);
    this._folder = job;
    job.start(resume, walk);
    this.publishState();
    return job.progress();
  }

  /** Why `device` failed to start here, if it did (listDevices shows it as unavailable). */
  deviceFailure(device: string): string | undefined {
    return this.failedDevices.get(device);
  }

  /** Mark an evaluation as under way (one at a time); its signal aborts on cancelEvaluation. */
  beginEvaluation(): AbortSignal {
    if (this.evaluation) throw new RwsError('eval-busy', 'evaluate: an evaluation is under way: cancel it first', { field: 'data' });
    this.evaluation = { controller: new AbortController(), progress: null };
    return this.evaluation.controller.signal;
  }

  /** Record and send the evaluation's progress. */
  setEvaluationProgress(p: FolderProgress): void {
    if (this.evaluation) this.evaluation.progress = p;
    this.events.emit('progress', p);
  }

  endEvaluation(): void {
    this.evaluation = null;
  }

  /** Ask the evaluation under way to stop after its batch in hand; its progress, or null when none runs. */
  cancelEvaluation(): FolderProgress | null {
    const e = this.evaluation;
    if (!e) return null;
    e.controller.abort();
    const p: FolderProgress = { ...(e.progress ?? { kind: 'eval', done: 0, failed: 0, total: null, rate: 0, eta: null }), phase: 'stopping' };
    this.setEvaluationProgress(p);
    return p;
  }

  /** Throw when a folder run is under way. */
  assertNoRun(): void {
    if (this._folder?.running) throw new RwsError('run-busy', 'a folder run is under way: stop it first', { field: 'inputs' });
  }

  setStatus(status: EngineStatus, message?: string): void {
    this.status = status;
    this.message = message;
    this.publishState();
  }

  state(): EngineState {
    const l = this._loaded;
    const warnings = [...(l?.patched.warnings ?? []), ...(l?.info.signatures.filter((s) => !s.available).map((s) => `signature "${s.id}": ${s.reason}`) ?? [])];
    const out: EngineState = {
      status: this.status,
      pack: l ? { id: l.info.id, name: l.info.name, dir: l.info.dir } : null,
      device: this._device,
      mix: this._mix,
      mixKey: mixKey(this._mix),
      run: this._folder?.progress() ?? null,
      warnings,
      instance: this.instance,
    };
    if (l?.patched.strategy) out.strategy = l.patched.strategy;
    if (this.message) out.message = this.message;
    return out;
  }

  publishState(): void {
    this.events.emit('engineState', this.state());
  }

  /** Record the device the models actually run on, and tell the UI when it changed. */
  private noteDevice(c: Classifier): void {
    const next: DeviceChange = { requested: this._requestedDevice, device: c.device ?? this._requestedDevice };
    if (c.fallback) {
      next.fallback = c.fallback;
      this.failedDevices.set(this._requestedDevice, c.fallback);
    }
    const changed = JSON.stringify(next) !== JSON.stringify(this._device);
    this._device = next;
    if (changed) this.events.emit('deviceChange', next);
  }

  private async disposeModels(): Promise<void> {
    const l = this._loaded;
    this._loaded = null;
    if (l) {
      await l.patched.dispose();
      await l.clean?.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.disposeModels();
  }
}

/** Throws the error a command gives when a mix names a signature the pack cannot use. */
export function assertMixUsable(mix: ConditionMix, info: PackInfo, field: string): void {
  for (const id of Object.keys(mix)) {
    const s = info.signatures.find((x) => x.id === id);
    if (!s) throw new RwsError('mix-unknown', `${field}: "${id}" is not a signature of pack "${info.id}"`, { field });
    if (!s.available) throw new RwsError('signature-missing', `${field}: signature "${id}" is not available: ${s.reason}`, { field });
  }
}
