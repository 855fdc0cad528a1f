// A folder-run Classifier over a plain onnxruntime session in this thread (no patching, no
// worker), so the folder-run tests exercise runFolder on a real model without the worker's setup.
import * as ort from 'onnxruntime-node';
import { RwsError } from '../../../main/core/errors.js';
import { inputSpecFromShape, type Classifier } from '../../../main/engine/folder/classifier.js';
import { FREE_BATCH } from '../../../main/engine/folder/plan.js';
import type { InputSpec } from '../../../main/engine/packs/pack.js';
import type { Device } from '../../../main/engine/runtime/devices.js';
import { createSession } from '../../../main/engine/runtime/session.js';

/** Options of a classifier made directly from an onnxruntime session (no patching). */
export interface SessionClassifierOptions {
  device?: Device;
  threads?: number;
  /** From the pack; without one, taken from the model's input shape. */
  inputSpec?: InputSpec;
  labels?: string[];
  outputKind?: 'logits' | 'probabilities';
  outputName?: string;
}

/**
 * A classifier over a plain onnxruntime session in this thread, for models run without
 * signatures. Its `run` blocks this thread while onnxruntime computes.
 */
export async function createSessionClassifier(model: string | Uint8Array, opts: SessionClassifierOptions = {}): Promise<Classifier> {
  const where = typeof model === 'string' ? model : 'model';
  const { session, device, fallback } = await createSession(model, { device: opts.device ?? 'cpu', threads: opts.threads });
  const meta = session.inputMetadata[0];
  if (!meta || !meta.isTensor) throw new RwsError('model-input', `${where}: the model has no tensor input`, { file: where });
  const inputSpec = opts.inputSpec ?? inputSpecFromShape({ name: meta.name, shape: meta.shape }, where);
  const outputName = opts.outputName ?? session.outputNames[0]!;
  const outMeta = session.outputMetadata.find((m) => m.name === outputName);
  const classes = outMeta?.isTensor ? outMeta.shape[outMeta.shape.length - 1] : undefined;
  let labels = opts.labels;
  if (!labels) {
    if (typeof classes !== 'number') throw new RwsError('model-output', `${where}: output "${outputName}" has no fixed number of classes; use a pack with labels`, { file: where });
    labels = Array.from({ length: classes }, (_, i) => String(i));
  }
  const batchDim = meta.shape[0];
  return {
    inputSpec,
    labels,
    outputKind: opts.outputKind ?? 'logits',
    device,
    fallback,
    maxBatch: typeof batchDim === 'number' && batchDim > 0 ? batchDim : FREE_BATCH,
    async run(input, dims) {
      const out = await session.run({ [inputSpec.name]: new ort.Tensor('float32', input, dims) });
      const t = out[outputName]!;
      return t.data as Float32Array;
    },
    async dispose() {
      await session.release();
    },
  };
}
