import { readFile } from 'node:fs/promises';
import { RwsError } from '../core/errors.js';
import { decodeSignature } from '../core/signature-codec.js';
import type { Signature } from '../core/signature.js';
import type { OnnxModel } from './onnx/model.js';
import { hashTensor } from './tensor-hash.js';
import { assertTrustedBytes } from './trust.js';

/** How a signature fits a model: every tensor present with its shape, and its base hashes equal. */
export interface SignatureFit {
  fits: boolean;
  /** Problems, each naming the tensor: missing, shape, or hash. */
  problems: { tensor: string; kind: 'missing' | 'shape' | 'hash'; message: string }[];
}

/** Read and decode a signature file; errors name the file. */
export async function readSignature(file: string): Promise<Signature> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new RwsError('signature-read', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  await assertTrustedBytes(file, bytes);
  return decodeSignature(bytes, file);
}

/** Check a signature against a model's initializers (names, element counts, SHA-256 of the clean values). */
export function checkFit(model: OnnxModel, sig: Signature): SignatureFit {
  const problems: SignatureFit['problems'] = [];
  const known = new Map(model.initializers().map((i) => [i.name, i]));
  for (const t of sig.tensors) {
    const init = known.get(t.name);
    if (!init) {
      problems.push({ tensor: t.name, kind: 'missing', message: `tensor "${t.name}" is not in the model` });
      continue;
    }
    const count = init.dims.reduce((a, b) => a * Number(b), 1);
    if (count !== t.values.length) {
      problems.push({ tensor: t.name, kind: 'shape', message: `tensor "${t.name}" has shape [${init.dims.join(',')}] in the model but [${t.shape.join(',')}] in the signature` });
      continue;
    }
    const want = sig.meta.baseHashes[t.name];
    if (want && hashTensor(model.floats(t.name)) !== want) {
      problems.push({ tensor: t.name, kind: 'hash', message: `tensor "${t.name}" differs from the base model the signature was made for (SHA-256 mismatch)` });
    }
  }
  return { fits: problems.length === 0, problems };
}

/**
 * Refuse a signature that does not fit, naming the tensor; with `force`, hash mismatches (transfer to
 * a fine-tuned backbone) become warnings, but missing tensors and shape mismatches never pass.
 */
export function assertFits(model: OnnxModel, sig: Signature, where: string, force = false): string[] {
  const { problems } = checkFit(model, sig);
  const warnings: string[] = [];
  for (const p of problems) {
    if (p.kind === 'hash' && force) {
      warnings.push(`${where}: ${p.message}; applied anyway (--force)`);
      continue;
    }
    const hint = p.kind === 'hash' ? ' (made for another model; --force applies it anyway, e.g. for transfer)' : '';
    throw new RwsError('signature-mismatch', `${where}: ${p.message}${hint}`, { file: where, field: p.tensor });
  }
  return warnings;
}
