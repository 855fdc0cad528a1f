import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { z } from 'zod';
import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import { installRoot } from '../io/install-root.js';
import { AutoMixSchema } from '../auto/schema.js';
import { sha256File, trustPolicy, verifyBytes, vouchFor } from './trust.js';
import { checkPackModel } from './pack-model.js';
import { checkInputSpec, InputSpecSchema, type InputSpec } from './input-spec.js';

export { InputSpecSchema, type InputSpec };
import { loadOnnx } from '../onnx/model.js';

const id = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an id is lower-case letters, digits and dashes');
/** A file name inside the pack's folder: no absolute path, no `..`. */
const inPackPath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !p.split(/[\\/]/).includes('..'), 'must stay inside the pack folder');
const mix = z.record(id, z.number().finite().min(-4).max(4));

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
  labels: z.array(z.string().min(1)).min(1),
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
      strategy: z.enum(['auto', 'head', 'session', 'inputs']).default('auto'),
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
    throw new RwsError('pack-json', `${file}: not valid JSON (${(e as Error).message})`, { file });
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

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * Load a pack folder: validate pack.json, check the model exists, and find each signature in the
 * pack's `signatures/`, then the shipped library (`signatures/<pack id>/` and `signatures/`), then the
 * user library. A file whose SHA-256 differs from the manifest's is not used.
 */
export async function loadPack(dir: string, extraLibraries: string[] = []): Promise<ModelPack> {
  const file = path.join(dir, 'pack.json');
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new RwsError('pack-missing', `${file}: cannot read the pack manifest (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  // Under a trust policy the manifest's signature is checked before anything in it is believed.
  const policy = await trustPolicy();
  if (policy) await verifyBytes(file, bytes, policy.keys, policy.origin);
  const manifest = parsePackManifest(bytes.toString('utf8'), file);
  const modelPath = path.join(dir, manifest.model);
  if (!(await exists(modelPath))) {
    throw new RwsError('pack-model', `${file}: field "model": ${manifest.model} does not exist in the pack folder`, { file, field: 'model' });
  }
  if (policy && manifest.modelSha256 === undefined) {
    throw new RwsError('trust-pack-model', `${file}: refused: the pack is signed but lists no "modelSha256", so its model cannot be checked`, { file, field: 'modelSha256' });
  }
  if (manifest.modelSha256 !== undefined) {
    const actual = await sha256File(modelPath);
    if (actual !== manifest.modelSha256) {
      throw new RwsError('pack-model-hash', `${file}: field "modelSha256": ${manifest.model} has SHA-256 ${actual}, not the one pack.json lists (the model was changed or replaced)`, { file, field: 'modelSha256' });
    }
    if (policy) vouchFor(actual);
  }
  checkPackModel(manifest, await loadOnnx(modelPath), file);
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
    let mismatch: string | undefined;
    for (const lib of libraries) {
      const candidate = path.join(lib, name);
      if (!(await exists(candidate))) continue;
      if ((await sha256File(candidate)) === s.sha256) {
        found = candidate;
        break;
      }
      mismatch ??= candidate;
    }
    if (found) {
      signatureFiles.set(s.id, found);
      // The signed manifest vouches for these bytes: they need no .sig of their own.
      if (policy) vouchFor(s.sha256);
    }
    else
      missing.push({
        id: s.id,
        reason: mismatch
          ? `${mismatch}: SHA-256 differs from the one pack.json lists for "${s.id}"`
          : `${name} not found in the pack's signatures/ or any signature library`,
      });
  }
  return { manifest, dir, modelPath, signatureFiles, missing };
}


