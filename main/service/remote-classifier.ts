import { RemotePatcher } from '../engine/runtime/remote-patcher.js';
import type { ClassifierFactory } from './engine.js';

/** The engine's RemotePatcher (onnxruntime in a worker thread, so a run never blocks the service) as the service's Classifier. */
export const remoteClassifier: ClassifierFactory = (modelPath, signatureFiles, opts) =>
  RemotePatcher.create(modelPath, signatureFiles, { device: opts.device, force: opts.force });
