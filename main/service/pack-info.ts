import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { PackInfo, SignatureInfo } from '../api/contract.js';
import type { ModelPack } from '../engine/packs/pack.js';
import { loadOnnx, type OnnxModel } from '../engine/onnx/model.js';
import { checkFit, readSignature } from '../engine/signatures/fit.js';
import { IMAGE_EXTENSIONS } from '../engine/io/image-decode.js';

async function size(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** Image files in the pack's `samples/` folder (recursive, sorted), for the UI to try. */
async function samples(dir: string): Promise<string[]> {
  const root = path.join(dir, 'samples');
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
      .map((e) => path.join(e.parentPath ?? root, e.name))
      .sort();
  } catch {
    return [];
  }
}

/** What the UI shows of a pack: its manifest, and per signature its metadata and whether it fits the model. */
export async function describePack(pack: ModelPack): Promise<PackInfo> {
  const m = pack.manifest;
  let model: OnnxModel | undefined;
  try {
    model = await loadOnnx(pack.modelPath);
  } catch {
    model = undefined; // the Classifier reports a broken model; here it only costs the base-match column
  }
  const signatures: SignatureInfo[] = [];
  for (const s of m.signatures) {
    const file = pack.signatureFiles.get(s.id);
    const info: SignatureInfo = { id: s.id, condition: s.condition, available: file !== undefined, transfer: s.transfer };
    if (!file) {
      info.reason = pack.missing.find((x) => x.id === s.id)?.reason ?? 'not found';
      signatures.push(info);
      continue;
    }
    info.file = file;
    info.bytes = await size(file);
    try {
      const sig = await readSignature(file);
      info.quant = sig.meta.quant;
      info.layers = sig.meta.layers;
      info.method = sig.meta.method;
      info.severity = sig.meta.severity;
      info.tensors = sig.tensors.length;
      if (sig.meta.description) info.description = sig.meta.description;
      if (model) info.baseMatch = checkFit(model, sig).fits;
    } catch (e) {
      info.available = false;
      info.reason = (e as Error).message;
    }
    signatures.push(info);
  }
  return {
    id: m.id,
    name: m.name,
    version: m.version,
    dir: pack.dir,
    modelFile: pack.modelPath,
    modelBytes: await size(pack.modelPath),
    input: { ...m.input },
    labels: [...m.labels],
    signatures,
    conditions: m.conditions.map((c) => ({ ...c, mix: { ...c.mix } })),
    mixes: m.mixes.map((c) => ({ ...c, mix: { ...c.mix } })),
    samples: await samples(pack.dir),
  };
}
