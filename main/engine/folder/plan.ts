// What a folder run of a pack is, decided once for `rws run` and the app's folder runs: its
// identity (a journal is resumed only by the same run), the largest batch the model accepts, and
// where it may write.
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { MAX_BATCH, MAX_BATCH_TENSOR_BYTES } from '../../core/limits.js';
import { imageSize, type InputLayout } from '../../core/tensors.js';
import type { OnnxModel } from '../onnx/model.js';
import type { ModelPack } from '../packs/pack.js';

/** Batch limit of a model whose batch dimension is free. */
export const FREE_BATCH = MAX_BATCH;

/**
 * Refuses a batch a caller asked for beyond MAX_BATCH images or a MAX_BATCH_TENSOR_BYTES input
 * tensor for this model's images (README: Limits); `what` names the flag or field.
 */
export function checkBatch(batch: number, spec: InputLayout, what: string, code = 'batch-limit'): number {
  const bytes = batch * imageSize(spec) * 4;
  if (batch > MAX_BATCH || bytes > MAX_BATCH_TENSOR_BYTES) {
    const most = Math.max(1, Math.min(MAX_BATCH, Math.floor(MAX_BATCH_TENSOR_BYTES / (imageSize(spec) * 4))));
    throw new RwsError(code, `${what}: a batch of ${batch} is over the limit for this model's ${spec.width}×${spec.height}×${spec.channels} input (at most ${most} images, ${MAX_BATCH_TENSOR_BYTES / 2 ** 20} MiB a batch)`, { field: what });
  }
  return batch;
}

/**
 * The run's identity: pack id and version, the model's SHA-256 and each used signature's, so a
 * pack updated in place (same version, new model or signatures) never resumes an old journal.
 */
export function packRunIdentity(pack: ModelPack, used: (signature: string) => boolean): string {
  const m = pack.manifest;
  return [`${m.id}@${m.version}`, pack.modelSha256, ...m.signatures.filter((s) => used(s.id)).map((s) => `${s.id}:${s.sha256}`)].join('+');
}

/** The pack id and version an identity starts with, for messages. */
export function identityPack(identity: string): string {
  return identity.split('+')[0]!;
}

/** Largest batch the model's input accepts: its fixed batch dimension, else FREE_BATCH. */
export function batchLimit(model: OnnxModel): number {
  return model.maxBatch() ?? FREE_BATCH;
}

/** `batchLimit` of a model file; FREE_BATCH when it cannot be read here (the session reports why). */
export async function modelBatchLimit(modelPath: string): Promise<number> {
  try {
    // Loaded here, not with this file: `rws run` plans a pack's run without the ONNX reader.
    const { loadOnnx } = await import('../onnx/model.js');
    return batchLimit(await loadOnnx(modelPath));
  } catch {
    return FREE_BATCH;
  }
}

/**
 * Refuses a destination inside one of the inputs (copies into class folders there would be walked
 * and classified again). `what` names the flag or field in the message; `code` is the error's
 * (a command line calls it a usage mistake).
 */
export function assertOutsideInputs(inputs: string[], dest: string, what: string, code = 'output-inside-input'): void {
  const to = path.resolve(dest);
  for (const input of inputs) {
    const rel = path.relative(path.resolve(input), to);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      throw new RwsError(code, `${what}: ${dest} is inside the input ${input}; copies into class folders would be classified again, choose a folder outside it`, { field: what });
    }
  }
}
