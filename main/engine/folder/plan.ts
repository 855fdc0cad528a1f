// What a folder run of a pack is, decided once for `rws run` and the app's folder runs: its
// identity (a journal is resumed only by the same run), the largest batch the model accepts, and
// where it may write.
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { loadOnnx, type OnnxModel } from '../onnx/model.js';
import type { ModelPack } from '../packs/pack.js';
import { sha256File } from '../packs/trust.js';

/** Batch limit of a model whose batch dimension is free. */
export const FREE_BATCH = 4096;

/**
 * The run's identity: pack id and version, the model's SHA-256 and each used signature's, so a
 * pack updated in place (same version, new model or signatures) never resumes an old journal.
 */
export async function packRunIdentity(pack: ModelPack, used: (signature: string) => boolean): Promise<string> {
  const m = pack.manifest;
  return [`${m.id}@${m.version}`, m.modelSha256 ?? (await sha256File(pack.modelPath)), ...m.signatures.filter((s) => used(s.id)).map((s) => `${s.id}:${s.sha256}`)].join('+');
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
