import type { ClassifierFactory } from './engine.js';

/** The engine's RemotePatcher (onnxruntime in a worker thread) as the service's Classifier. */
export const remoteClassifier: ClassifierFactory = async (modelPath, signatureFiles, opts) => {
  // Resolved at run time until the engine's remote patcher is in the tree.
  const spec = '../engine/remote-patcher.js';
  const { RemotePatcher } = (await import(spec)) as { RemotePatcher: { create(m: string, s: Map<string, string>, o: object): Promise<never> } };
  return RemotePatcher.create(modelPath, signatureFiles, { device: opts.device, force: opts.force });
};
