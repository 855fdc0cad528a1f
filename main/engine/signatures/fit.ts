// Reading signature files and checking that they fit a model: one implementation for the Patcher,
// `rws patch`, `rws inspect` and the app.
import { RwsError } from '../../core/errors.js';
import { MAX_MODEL_BYTES } from '../../core/limits.js';
import { readRegularFile } from '../io/regular-file.js';
import { decodeSignature } from '../../core/signature-codec.js';
import type { Signature } from '../../core/signature.js';
import type { OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import { hashTensor } from './tensor-hash.js';
import { assertTrustedBytes } from '../packs/trust.js';

/** One reason a signature tensor does not fit a model; `fatal` ones cannot be applied even when forced. */
export interface FitProblem {
  tensor: string;
  kind: 'missing' | 'type' | 'shape' | 'hash' | 'unhashed';
  message: string;
  fatal: boolean;
}

/** How a signature fits a model: every tensor present, float32, the same size, and its base hash equal. */
export interface SignatureFit {
  fits: boolean;
  problems: FitProblem[];
}

/**
 * Read and decode a signature file (checking the trust policy); errors name the file. With
 * `sha256` (the hash it had when chosen), other bytes are refused.
 */
export async function readSignature(file: string, sha256?: string): Promise<Signature> {
  const bytes = await readRegularFile(file, { what: 'the signature', code: 'signature-read', maxBytes: MAX_MODEL_BYTES, sha256 });
  await assertTrustedBytes(file, bytes);
  return decodeSignature(bytes, file);
}

/**
 * Reads signature files; ids come from the map's keys, or from each signature's metadata.
 * `pinned` holds, by id, the SHA-256 each file had when it was chosen (a pack's manifest).
 */
export async function loadSignatures(files: readonly string[] | ReadonlyMap<string, string>, pinned: Readonly<Record<string, string>> = {}): Promise<Map<string, Signature>> {
  const entries: [string | undefined, string][] = Array.isArray(files) ? files.map((f) => [undefined, f]) : [...(files as ReadonlyMap<string, string>)];
  const out = new Map<string, Signature>();
  for (const [key, file] of entries) {
    const sig = await readSignature(file, key === undefined || !Object.hasOwn(pinned, key) ? undefined : pinned[key]);
    const id = key ?? sig.meta.id;
    if (out.has(id)) throw new RwsError('signature-duplicate', `${file}: a signature with id "${id}" is already loaded`, { file, field: 'id' });
    out.set(id, sig);
  }
  return out;
}

function tensorProblem(model: OnnxModel, name: string, count: number, expected: string | undefined, hashes: Map<string, string>): FitProblem | undefined {
  if (!model.hasInitializer(name)) return { tensor: name, kind: 'missing', message: `is not a weight of ${model.file}`, fatal: true };
  const t = model.tensor(name);
  if (t.data_type !== DataType.FLOAT) {
    return { tensor: name, kind: 'type', message: `is not float32 in ${model.file} (data type ${t.data_type}); only float32 weights can be patched`, fatal: true };
  }
  const n = t.dims.reduce<number>((a, d) => a * Number(d), 1);
  if (n !== count) return { tensor: name, kind: 'shape', message: `has ${count} values, the model's has ${n}`, fatal: true };
  let actual = hashes.get(name);
  if (!actual) {
    actual = hashTensor(model.floats(name));
    hashes.set(name, actual);
  }
  if (!expected) return { tensor: name, kind: 'unhashed', message: 'has no base hash in the signature, so it cannot be checked against this model', fatal: false };
  if (expected.toLowerCase() !== actual) {
    return { tensor: name, kind: 'hash', message: `was made for another base model (base SHA-256 ${expected.slice(0, 12)}…, this model's ${actual.slice(0, 12)}…)`, fatal: false };
  }
  return undefined;
}

/** Check a signature against a model's initializers, each problem naming the tensor. */
export function checkFit(model: OnnxModel, sig: Signature, hashes = new Map<string, string>()): SignatureFit {
  const problems: FitProblem[] = [];
  for (const t of sig.tensors) {
    const p = tensorProblem(model, t.name, t.values.length, sig.meta.baseHashes[t.name], hashes);
    if (p) problems.push({ ...p, message: `tensor "${t.name}" ${p.message}` });
  }
  return { fits: problems.length === 0, problems };
}

/**
 * The signatures as they can be applied. A signature that does not fit is refused, naming the
 * tensor (and its file, when `files` says where each id came from); a forced one (`true`, or its id listed, e.g. a pack's transfer signatures) gets a warning
 * for a hash mismatch, and tensors that cannot be applied at all are dropped with a warning.
 */
export function checkSignatures(
  model: OnnxModel,
  signatures: Map<string, Signature>,
  force: boolean | readonly string[],
  warnings: string[],
  files?: ReadonlyMap<string, string>,
): Map<string, Signature> {
  const hashes = new Map<string, string>();
  const usable = new Map<string, Signature>();
  for (const [id, sig] of signatures) {
    const forced = force === true || (Array.isArray(force) && force.includes(id));
    const bad = new Set<string>();
    const file = files?.get(id);
    for (const p of checkFit(model, sig, hashes).problems) {
      const message = `${file ? `${file}: ` : ''}signature "${id}": ${p.message}`;
      if (!forced) throw new RwsError('signature-mismatch', `${message} (use --force, or declare it a transfer in the pack, to apply it anyway)`, { field: p.tensor, ...(file ? { file } : {}) });
      warnings.push(p.fatal ? `${message}; skipped` : `${message}; applied anyway (forced)`);
      if (p.fatal) bad.add(p.tensor);
    }
    usable.set(id, bad.size === 0 ? sig : { meta: sig.meta, tensors: sig.tensors.filter((t) => !bad.has(t.name)) });
  }
  return usable;
}
