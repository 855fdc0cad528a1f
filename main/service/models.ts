// The models the service runs: what it needs of a patched model (the engine's RemotePatcher has
// this shape), how it makes one, and a loaded pack with its two models.
import type { ConditionMix, DeviceId, PackInfo } from '../api/contract.js';
import type { ModelPack } from '../engine/packs/pack.js';
import { RemotePatcher } from '../engine/runtime/remote-patcher.js';

/** What the service needs of a model with signatures. */
export interface Classifier {
  setMix(mix: ConditionMix): Promise<void>;
  /** Output tensor ([n, classes]) for `input` of shape `dims`. */
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  dispose(): Promise<void> | void;
  /** The mix it holds, where it tells (as of the last setMix that completed). */
  readonly mix?: ConditionMix;
  readonly device?: string;
  readonly fallback?: string;
  readonly strategy?: string;
  readonly warnings?: string[];
}

export interface ClassifierOptions {
  device: DeviceId;
  /** Signature ids allowed to differ from the model's base tensors (the pack declares them as transfers). */
  force: string[];
  /** The compiled inference worker, where it is not beside the patcher's code (a bundled app). */
  workerUrl?: URL | string;
  /** The model's input and output the pack names, and its patching strategy. */
  inputName?: string;
  outputName?: string;
  strategy?: 'auto' | 'inplace' | 'head' | 'session' | 'inputs';
  /** SHA-256s of the model and signatures (by id) as checked at the pack's load; other bytes are refused. */
  expect?: { model?: string; signatures?: Record<string, string> };
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

/** The engine's RemotePatcher (onnxruntime in a worker thread, so a run never blocks the service). */
export const remoteClassifier: ClassifierFactory = (modelPath, signatureFiles, opts) =>
  RemotePatcher.create(modelPath, signatureFiles, {
    device: opts.device,
    force: opts.force,
    inputName: opts.inputName,
    outputName: opts.outputName,
    strategy: opts.strategy,
    ...(opts.workerUrl ? { workerUrl: opts.workerUrl } : {}),
    ...(opts.expect ? { expect: opts.expect } : {}),
  });
