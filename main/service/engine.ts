import path from 'node:path';
import { RwsError } from '../core/errors.js';
import { mixKey, normalizeMix } from '../core/mix.js';
import type {
  ConditionMix,
  DeviceChange,
  DeviceId,
  EngineState,
  EngineStatus,
  PackInfo,
} from '../api/contract.js';
import type { ModelPack } from '../engine/packs/pack.js';
import { EventHub } from './events.js';
import type { FolderJob } from './folder-job.js';
import { RootGuard } from './root-guard.js';

/** What the service needs of a model with signatures: the engine's RemotePatcher has this shape. */
export interface Classifier {
  setMix(mix: ConditionMix): Promise<void>;
  /** Output tensor ([n, classes]) for `input` of shape `dims`. */
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  dispose(): Promise<void> | void;
  readonly device?: string;
  readonly fallback?: string;
  readonly strategy?: string;
  readonly warnings?: string[];
}

export interface ClassifierOptions {
  device: DeviceId;
  /** Signature ids allowed to differ from the model's base tensors (the pack declares them as transfers). */
  force: string[];
}

/** Makes a Classifier for a model file and its signature files (by id). */
export type ClassifierFactory = (modelPath: string, signatureFiles: Map<string, string>, opts: ClassifierOptions) => Promise<Classifier>;

/** A pack loaded into the engine, with its two models: patched (the current mix) and clean (for comparison). */
export interface LoadedPack {
  pack: ModelPack;
  info: PackInfo;
  patched: Classifier;
  /** Created on first use (camera comparison, evaluation). */
  clean?: Classifier;
  cleanPending?: Promise<Classifier>;
}


export interface EngineOptions {
  /** Folders inputs and outputs must lie in (rws serve); undefined = any path (the desktop app, whose user picks paths). */
  roots?: string[];
  /** Pack loaded when a command needs one and none was loaded; default the shipped pack. */
  packDir?: string;
  device?: DeviceId;
  /** How models are made; default the engine's RemotePatcher (ORT in a worker thread). */
  classifierFactory?: ClassifierFactory;
  /** Name of the folder under the first root that uploads go into. */
  uploadsFolder?: string;
}

export { mixKey, normalizeMix };

/**
 * The state every command works on: the loaded pack and its models, the device, the current mix,
 * the folder run, and the event hub that transports forward. One per process hosting the engine.
 */
export class Engine {
  readonly events = new EventHub();
  readonly guard: RootGuard | null;
  readonly options: EngineOptions;
  loaded: LoadedPack | null = null;
  requestedDevice: DeviceId;
  device: DeviceChange;
  mix: ConditionMix = {};
  status: EngineStatus = 'idle';
  message?: string;
  folder: FolderJob | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private factory?: ClassifierFactory;
  private loadingPack?: Promise<LoadedPack>;

  private constructor(options: EngineOptions, guard: RootGuard | null) {
    this.options = options;
    this.guard = guard;
    this.requestedDevice = options.device ?? 'auto';
    this.device = { requested: this.requestedDevice, device: this.requestedDevice };
    this.factory = options.classifierFactory;
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const guard = options.roots ? await RootGuard.create(options.roots) : null;
    return new Engine(options, guard);
  }

  /** The classifier factory; the engine's RemotePatcher unless one was given. */
  async classifierFactory(): Promise<ClassifierFactory> {
    if (!this.factory) this.factory = (await import('./remote-classifier.js')).remoteClassifier;
    return this.factory;
  }

  /** A patched model of the loaded pack with the given signatures (default: every available one). */
  async makePatched(loaded: Pick<LoadedPack, 'pack' | 'info'>, ids?: (id: string) => boolean): Promise<Classifier> {
    const factory = await this.classifierFactory();
    const available = new Set(loaded.info.signatures.filter((s) => s.available).map((s) => s.id));
    const files = new Map([...loaded.pack.signatureFiles].filter(([id]) => available.has(id) && (!ids || ids(id))));
    const force = loaded.pack.manifest.signatures.filter((s) => s.transfer && files.has(s.id)).map((s) => s.id);
    return factory(loaded.pack.modelPath, files, { device: this.requestedDevice, force });
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

  /** The loaded pack, loading the default one first if none is. */
  async requirePack(): Promise<LoadedPack> {
    if (this.loaded) return this.loaded;
    if (this.loadingPack) return this.loadingPack;
    const { loadPackInto } = await import('./commands/load-pack.js');
    return loadPackInto(this, undefined);
  }

  /** Remember an in-flight pack load so concurrent callers share it. */
  trackPackLoad(p: Promise<LoadedPack>): Promise<LoadedPack> {
    this.loadingPack = p;
    const clear = () => {
      if (this.loadingPack === p) this.loadingPack = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** The clean model of the loaded pack, created on first use. */
  async cleanClassifier(): Promise<Classifier> {
    const loaded = await this.requirePack();
    if (loaded.clean) return loaded.clean;
    // Concurrent first frames share one creation.
    loaded.cleanPending ??= (async () => {
      const factory = await this.classifierFactory();
      const c = await factory(loaded.pack.modelPath, new Map(), { device: this.requestedDevice, force: [] });
      if (this.loaded !== loaded) {
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

  /**
   * Run `f` on the loaded models; if their inference worker died, say so, make them again (on the
   * CPU when another device was in use, since a GPU provider is the usual cause) with the same mix,
   * and rethrow: the caller's next call works.
   */
  async survive<T>(loaded: LoadedPack, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      const code = (e as RwsError).code;
      if (code !== 'worker-crashed' && code !== 'worker-exited') throw e;
      if (this.loaded !== loaded) throw e;
      this.events.emit('error', { code, message: (e as Error).message, source: 'engine' });
      this.setStatus('crashed', (e as Error).message);
      const before = this.requestedDevice;
      if (before !== 'cpu') this.requestedDevice = 'cpu';
      try {
        const patched = await this.makePatched(loaded);
        await patched.setMix(this.mix);
        const old = [loaded.patched, loaded.clean];
        loaded.patched = patched;
        loaded.clean = undefined;
        for (const c of old) await Promise.resolve(c?.dispose()).catch(() => undefined);
        this.noteDevice(patched);
        if (before !== 'cpu') this.device = { ...this.device, fallback: `the engine crashed on ${before}; restarted on the CPU` };
        this.events.emit('deviceChange', this.device);
        this.setStatus('ready', `the inference worker stopped and was restarted${before !== 'cpu' ? ' on the CPU' : ''}`);
      } catch (again) {
        this.setStatus('error', `the inference worker stopped and could not be restarted: ${(again as Error).message}`);
      }
      throw e;
    }
  }

  setStatus(status: EngineStatus, message?: string): void {
    this.status = status;
    this.message = message;
    this.publishState();
  }

  state(): EngineState {
    const l = this.loaded;
    const warnings = [...(l?.patched.warnings ?? []), ...(l?.info.signatures.filter((s) => !s.available).map((s) => `signature "${s.id}": ${s.reason}`) ?? [])];
    const out: EngineState = {
      status: this.status,
      pack: l ? { id: l.info.id, name: l.info.name, dir: l.info.dir } : null,
      device: this.device,
      mix: this.mix,
      mixKey: mixKey(this.mix),
      run: this.folder?.progress() ?? null,
      warnings,
    };
    if (l?.patched.strategy) out.strategy = l.patched.strategy;
    if (this.message) out.message = this.message;
    return out;
  }

  publishState(): void {
    this.events.emit('engineState', this.state());
  }

  /** Record the device the models actually run on, and tell the UI when it changed. */
  noteDevice(c: Classifier): void {
    const next: DeviceChange = { requested: this.requestedDevice, device: c.device ?? this.requestedDevice };
    if (c.fallback) next.fallback = c.fallback;
    const changed = JSON.stringify(next) !== JSON.stringify(this.device);
    this.device = next;
    if (changed) this.events.emit('deviceChange', next);
  }

  async disposeModels(): Promise<void> {
    const l = this.loaded;
    this.loaded = null;
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
