import { lstat } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';
import { jsonProblem, RwsError } from '../../core/errors.js';
import { MAX_LABELS, MAX_MANIFEST_BYTES, MAX_MODEL_BYTES } from '../../core/limits.js';
import { MAX_STRENGTH } from '../../core/mix.js';
import { installRoot } from '../io/install-root.js';
import { readRegularFile, realFolder, realPathWithin, sha256Hex, type ReadWhat } from '../io/regular-file.js';
import { AutoMixSchema } from '../auto/schema.js';
import { trustPolicy, verifyBytes, vouchFor } from './trust.js';
import { checkPackModel } from './pack-model.js';
import { checkInputSpec, InputSpecSchema, type InputSpec } from './input-spec.js';

export { InputSpecSchema, type InputSpec };

const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an id is lower-case letters, digits and dashes');
/** A file name inside the pack's folder: no absolute path, no `..`. */
const inPackPath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'must stay inside the pack folder');
const mix = z.record(id, z.number().finite().min(-MAX_STRENGTH).max(MAX_STRENGTH));

export const PackSchema = z.object({
  format: z.literal('rws-pack/1'),
  id,
  name: z.string().min(1),
  version: z.string().min(1),
  task: z.literal('classification'),
  model: inPackPath,
  /** SHA-256 of the model file; when listed, a model that differs is refused (a signed pack must list it). */
  modelSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  input: InputSpecSchema,
  output: z.object({ name: z.string().min(1), kind: z.enum(['logits', 'probabilities']) }),
  labels: z.array(z.string().min(1)).min(1).max(MAX_LABELS, `at most ${MAX_LABELS} labels`),
  signatures: z
    .array(
      z.object({
        id,
        condition: z.string().min(1),
        /** SHA-256 of the signature file. */
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        /** File name inside the pack's `signatures/` folder or a signature library; default `<id>.rws.safetensors`. */
        file: inPackPath.optional(),
        /** Made on another base model (transfer): hash mismatches are expected and allowed. */
        transfer: z.boolean().default(false),
      }),
    )
    .default([]),
  conditions: z.array(z.object({ id, name: z.string().min(1), mix, description: z.string().optional() })).default([]),
  mixes: z.array(z.object({ id, name: z.string().min(1), mix, description: z.string().optional() })).default([]),
  patching: z
    .object({
      strategy: z.enum(['auto', 'inplace', 'head', 'session', 'inputs']).default('auto'),
    })
    .default({ strategy: 'auto' }),
  /** What `--mix auto` uses to recognise the condition (optional; see auto-schema.ts). */
  autoMix: AutoMixSchema.optional(),
});

export type PackManifest = z.infer<typeof PackSchema>;

/** A loaded model pack: its manifest, folder, model path and where each signature file lives. */
export interface ModelPack {
  manifest: PackManifest;
  dir: string;
  modelPath: string;
  /** SHA-256 of the model as it was read and checked at load: later reads must give the same bytes. */
  modelSha256: string;
  /** Resolved signature files by id (missing ones are listed in `missing`). */
  signatureFiles: Map<string, string>;
  missing: { id: string; reason: string }[];
}

/** The repository's shipped signature library (top-level `signatures/`). */
export function shippedSignatureLibrary(): string {
  return path.join(installRoot(), 'signatures');
}

/** The repository's shipped default pack. */
export function defaultPackDir(): string {
  return path.join(installRoot(), 'native-models', 'fashion-mnist');
}

/** The user's signature library: `$RWS_SIGNATURES`, else `~/.rws/signatures`. */
export function userSignatureLibrary(): string {
  return process.env.RWS_SIGNATURES ?? path.join(os.homedir(), '.rws', 'signatures');
}

/** Parse and validate a pack.json's text; errors name the file and the field. */
export function parsePackManifest(text: string, file: string): PackManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RwsError('pack-json', `${file}: not valid JSON (${jsonProblem(e)})`, { file });
  }
  const parsed = PackSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || '(root)';
    throw new RwsError('pack-field', `${file}: field "${field}": ${issue.message}`, { file, field });
  }
  const m = parsed.data;
  checkInputSpec(m.input, file);
  const known = new Set(m.signatures.map((s) => s.id));
  for (const [kind, list] of [['conditions', m.conditions], ['mixes', m.mixes]] as const) {
    list.forEach((c, i) => {
      for (const sid of Object.keys(c.mix)) {
        if (!known.has(sid)) {
          const field = `${kind}.${i}.mix.${sid}`;
          throw new RwsError('pack-field', `${file}: field "${field}": no signature with id "${sid}" in "signatures"`, { file, field });
        }
      }
    });
  }
  return m;
}

/** Whether anything is at `p` (a dangling link or a FIFO too: reading it says what is wrong). */
async function present(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}

const MANIFEST: ReadWhat = { what: 'the pack manifest', code: 'pack-missing', maxBytes: MAX_MANIFEST_BYTES };
const SIGNATURE: ReadWhat = { what: 'a signature', code: 'signature-read', maxBytes: MAX_MODEL_BYTES };

/** Options of `loadPack`. */
export interface LoadPackOptions {
  /**
   * `false`: the model is read and hashed but not parsed, and its check against the manifest is
   * left to whoever parses it next (`rws run`'s inference worker, with `packModelCheck`), so that
   * it is parsed once. Default `true`.
   */
  checkModel?: boolean;
}

/**
 * Load a pack folder: validate pack.json, read the model once (its hash is what later reads are
 * held to) and check its input and output against the manifest, and find each signature in the
 * pack's `signatures/`, then the shipped library (`signatures/<pack id>/` and `signatures/`), then
 * the user library. A file whose SHA-256 differs from the manifest's is not used. The pack's own
 * files must be regular files inside its folder: links that lead out, FIFOs and devices are refused.
 */
export async function loadPack(dir: string, extraLibraries: string[] = [], opts: LoadPackOptions = {}): Promise<ModelPack> {
  const file = path.join(dir, 'pack.json');
  const root = await realFolder(dir);
  const own = (f: string, w: ReadWhat) => readOwn(root, f, w);
  const bytes = await own(file, MANIFEST);
  // Under a trust policy the manifest's signature is checked before anything in it is believed.
  const policy = await trustPolicy();
  if (policy) await verifyBytes(file, bytes, policy.keys, policy.origin);
  const manifest = parsePackManifest(bytes.toString('utf8'), file);
  const modelPath = path.join(dir, manifest.model);
  if (policy && manifest.modelSha256 === undefined) {
    throw new RwsError('trust-pack-model', `${file}: refused: the pack is signed but lists no "modelSha256", so its model cannot be checked`, { file, field: 'modelSha256' });
  }
  const modelBytes = await own(modelPath, { what: 'the model', code: 'pack-model', maxBytes: MAX_MODEL_BYTES, field: 'model' }).catch((e: unknown) => {
    // Named from pack.json too: its "model" field is what chose this file.
    if (e instanceof RwsError) throw new RwsError(e.code, `${file}: field "model": ${e.message}`, { file, field: 'model' });
    throw e;
  });
  const modelSha256 = sha256Hex(modelBytes);
  if (manifest.modelSha256 !== undefined) {
    if (modelSha256 !== manifest.modelSha256) {
      throw new RwsError('pack-model-hash', `${file}: field "modelSha256": ${manifest.model} has SHA-256 ${modelSha256}, not the one pack.json lists (the model was changed or replaced)`, { file, field: 'modelSha256' });
    }
    if (policy) vouchFor(modelSha256);
  }
  if (opts.checkModel !== false) {
    // The graph is enough to check the manifest against; external data is checked, not read.
    // (The ONNX reader loads protobufjs: only here, not for a caller that parses the model elsewhere.)
    const { checkExternalData, parseOnnx } = await import('../onnx/model.js');
    const model = parseOnnx(modelBytes, { file: modelPath });
    checkPackModel(manifest, model, file);
    await checkExternalData(model, path.dirname(modelPath));
  }
  const libraries = [
    path.join(dir, 'signatures'),
    ...extraLibraries,
    path.join(shippedSignatureLibrary(), manifest.id),
    shippedSignatureLibrary(),
    path.join(userSignatureLibrary(), manifest.id),
    userSignatureLibrary(),
  ];
  const signatureFiles = new Map<string, string>();
  const missing: { id: string; reason: string }[] = [];
  for (const s of manifest.signatures) {
    const name = s.file ?? `${s.id}.rws.safetensors`;
    let found: string | undefined;
    let problem: string | undefined;
    for (const [i, lib] of libraries.entries()) {
      const candidate = path.join(lib, name);
      if (!(await present(candidate))) continue;
      let sigBytes: Buffer;
      try {
        // The pack's own copy must be its own; libraries are shared folders, read as they are.
        sigBytes = await (i === 0 ? own(candidate, SIGNATURE) : readRegularFile(candidate, SIGNATURE));
      } catch (e) {
        if (!(e instanceof RwsError)) throw e;
        problem ??= e.message;
        continue;
      }
      if (sha256Hex(sigBytes) === s.sha256) {
        found = candidate;
        break;
      }
      problem ??= `${candidate}: SHA-256 differs from the one pack.json lists for "${s.id}"`;
    }
    if (found) {
      signatureFiles.set(s.id, found);
      // The signed manifest vouches for these bytes: they need no .sig of their own.
      if (policy) vouchFor(s.sha256);
    }
    else
      missing.push({
        id: s.id,
        reason: problem ?? `${name} not found in the pack's signatures/ or any signature library`,
      });
  }
  return { manifest, dir, modelPath, modelSha256, signatureFiles, missing };
}

/**
 * A file of the pack (`root` is its real folder): a regular file whose real path stays inside the
 * pack. Errors name it by the path the pack gives, the one the user knows.
 */
async function readOwn(root: string, file: string, w: ReadWhat): Promise<Buffer> {
  const real = await realPathWithin(root, file, w, 'the pack folder');
  try {
    return await readRegularFile(real, w);
  } catch (e) {
    if (!(e instanceof RwsError) || real === file) throw e;
    throw new RwsError(e.code, e.message.split(real).join(file), { file, field: e.field });
  }
}
