// Making a pack from a user's own model (`rws pack init`) and filling in its signatures
// (`rws pack add-signature`): pack.json written from what the model says about itself, the user's
// flags and a preprocessing preset, checked the way loadPack checks it, and tried on an image.
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from '../io/sharp.js';
import { RwsError } from '../../core/errors.js';
import { MAX_MANIFEST_BYTES, MAX_MODEL_BYTES } from '../../core/limits.js';
import type { Signature } from '../../core/signature.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import { decodeImage } from '../io/image-decode.js';
import { readRegularFile, readRegularText, sha256Hex } from '../io/regular-file.js';
import { exportProblems } from '../onnx/export-check.js';
import { intAttr } from '../onnx/graph.js';
import { loadOnnx, type OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';
import { Patcher } from '../runtime/patcher.js';
import { checkFit, readSignature } from '../signatures/fit.js';
import { checkInputSpec } from './input-spec.js';
import { checkPackModel } from './pack-model.js';
import { loadPack, parsePackManifest, type InputSpec, type PackManifest } from './pack.js';
import { flagName, preset, readModelInput, type PresetName } from './presets.js';

/** What `rws pack init` takes: the model, where to write, and any field the user sets. */
export interface PackInitOptions {
  model: string;
  out: string;
  /** A text file with one label per line (or a JSON array of strings). */
  labels?: string;
  preset?: PresetName;
  name?: string;
  id?: string;
  version?: string;
  input?: string;
  output?: string;
  outputKind?: 'logits' | 'probabilities';
  layout?: InputSpec['layout'];
  width?: number;
  height?: number;
  colorSpace?: InputSpec['colorSpace'];
  range?: [number, number];
  mean?: number[];
  std?: number[];
  resize?: InputSpec['resize'];
  shorterSide?: number;
  /** Write into a folder that already holds a pack.json. */
  force?: boolean;
}

/** What `rws pack init` did, for the command to print. */
export interface PackInitResult {
  dir: string;
  manifest: PackManifest;
  /** What the model says about itself. */
  model: { file: string; bytes: number; sha256: string; inputType: string; inputDims: (number | string)[]; outputDims: (number | string)[]; batch: number | 'dynamic' };
  /** Where each input field came from: the model, a preset, a flag or a default. */
  sources: Record<string, string>;
  /** Things the user should check because nothing in the model can tell them. */
  checks: string[];
  warnings: string[];
  /** The validation run: a generated image through the model, and what came out. */
  validation: { width: number; height: number; scores: number; finite: boolean };
}

const ELEM_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16' };

/** A pack id from a name: lower case, digits and dashes. */
function idFrom(text: string): string {
  const id = text.toLowerCase().replace(/\.onnx$/, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return /^[a-z0-9]/.test(id) ? id : `model-${id || 'pack'}`;
}

/** Labels from a text file (one per line, blank lines skipped) or a JSON array of strings. */
export async function readLabels(file: string): Promise<string[]> {
  // Its labels end up in pack.json, so pack.json's bound is the labels file's too.
  const text = await readRegularText(file, { what: 'the labels', code: 'labels-read', maxBytes: MAX_MANIFEST_BYTES, field: '--labels' });
  if (/^\s*\[/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new RwsError('labels-read', `${file}: looks like a JSON array but is not valid JSON (${(e as Error).message})`, { file, field: '--labels' });
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string' && x.trim())) {
      throw new RwsError('labels-read', `${file}: a JSON labels file must be an array of non-empty strings`, { file, field: '--labels' });
    }
    return parsed.map((x: string) => x.trim());
  }
  const labels = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (!labels.length) throw new RwsError('labels-read', `${file}: no labels in it (one label per line)`, { file, field: '--labels' });
  return labels;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new RwsError('pack-out', `${dir}: cannot use it as the pack folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: dir, field: '--out' });
  }
}

/** A synthetic test card (gradients and a bright square), larger than the input so the resize is exercised. */
async function testImage(width: number, height: number): Promise<Uint8Array> {
  const w = Math.max(64, Math.round(width * 1.5));
  const h = Math.max(48, Math.round(height * 1.2));
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const square = Math.abs(x - w / 2) < w / 6 && Math.abs(y - h / 2) < h / 6;
      px[i] = square ? 250 : Math.round((255 * x) / w);
      px[i + 1] = square ? 240 : Math.round((255 * y) / h);
      px[i + 2] = square ? 30 : 128;
    }
  }
  return sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

/** Runs one generated image through the model as the pack describes it; errors name the pack file. */
async function validate(manifest: PackManifest, model: OnnxModel, file: string): Promise<PackInitResult['validation']> {
  const spec = manifest.input;
  const x = await decodeImage(await testImage(spec.width, spec.height), spec, { name: '(generated test image)' });
  const dims = spec.layout === 'NCHW' ? [1, spec.channels, spec.height, spec.width] : [1, spec.height, spec.width, spec.channels];
  const p = await Patcher.create(model, new Map(), { inputName: spec.name, outputName: manifest.output.name, threads: 1, device: 'cpu' });
  let scores: Float32Array;
  try {
    scores = await p.run(x, dims);
  } catch (e) {
    throw new RwsError('pack-validate', `${file}: the model did not run on a generated ${spec.width}×${spec.height} image as the pack describes it: ${(e as Error).message}`, { file });
  } finally {
    await p.dispose();
  }
  if (scores.length !== manifest.labels.length) {
    throw new RwsError('pack-field', `${file}: field "labels": the model gave ${scores.length} scores for one image, but there are ${manifest.labels.length} labels`, { file, field: 'labels' });
  }
  return { width: spec.width, height: spec.height, scores: scores.length, finite: scores.every(Number.isFinite) };
}

/** Makes a pack folder for a model: pack.json, the model copied in, checked and tried on an image. */
export async function initPack(opts: PackInitOptions): Promise<PackInitResult> {
  // Read once: the bytes checked and tried here are the ones the pack gets, whatever the file does meanwhile.
  const modelBytes = await readRegularFile(opts.model, { what: 'the model', code: 'onnx-read', maxBytes: MAX_MODEL_BYTES });
  const model = await loadOnnx(opts.model, { sha256: sha256Hex(modelBytes) });
  const problems = exportProblems(model);
  const refused = problems.find((p) => p.severity === 'error');
  if (refused) throw new RwsError(refused.code, refused.message, { file: opts.model, field: refused.field });
  const warnings = problems.map((p) => p.message);
  const sources: Record<string, string> = {};
  /** A field from its flag, else what the model says, else a default; `sources` says which. */
  function from<T>(field: string, flag: T | undefined, inferred: T | undefined, fallback: T | undefined): T | undefined {
    const [value, source] = flag !== undefined ? [flag, `--${flagName(field)}`] : inferred !== undefined ? [inferred, 'the model'] : [fallback, 'default'];
    if (value !== undefined) sources[field] = source;
    return value;
  }

  const read = readModelInput(model, opts.input);
  if (read.input.elemType !== DataType.FLOAT) {
    throw new RwsError('model-input', `${opts.model}: input "${read.input.name}" takes ${ELEM_NAMES[read.input.elemType] ?? `type ${read.input.elemType}`}, not float32; rws feeds float32 images`, { file: opts.model, field: '--input' });
  }
  const layout = from('layout', opts.layout, read.layout, undefined);
  const channels = read.channels;
  const width = from('width', opts.width, read.width, undefined);
  const height = from('height', opts.height, read.height, undefined);
  const shape = `[${read.input.dims.join(', ')}]`;
  if (!layout || !channels) {
    throw new RwsError('model-input', `${opts.model}: input "${read.input.name}" has shape ${shape}: not an image batch with 1 or 3 channels ([N, C, H, W] or [N, H, W, C])`, { file: opts.model, field: '--input' });
  }
  if (!width || !height) {
    throw new RwsError('usage-size', `${opts.model}: input "${read.input.name}" has shape ${shape}: its size is free; give it with --width and --height`, { file: opts.model, field: width ? '--height' : '--width' });
  }
  sources.channels = 'the model';
  const colorSpace = from<InputSpec['colorSpace']>('colorSpace', opts.colorSpace, undefined, channels === 1 ? 'grey' : 'rgb')!;
  const presetName = opts.preset ?? 'none';
  const base = preset(presetName, { width, height, channels }, opts.model);
  const pre = (field: keyof typeof base, flag: unknown) => {
    if (flag !== undefined) sources[field] = `--${flagName(field)}`;
    else if (base[field] !== undefined) sources[field] = `--preset ${presetName}${opts.preset ? '' : ' (default)'}`;
    return flag ?? base[field];
  };
  const input: InputSpec = {
    name: read.input.name,
    layout,
    width,
    height,
    channels,
    colorSpace,
    range: pre('range', opts.range) as [number, number],
    mean: pre('mean', opts.mean) as number[],
    std: pre('std', opts.std) as number[],
    resize: pre('resize', opts.resize) as InputSpec['resize'],
  };
  const shorterSide = pre('shorterSide', opts.shorterSide) as number | undefined;
  if (shorterSide !== undefined && (input.resize === 'cover' || opts.shorterSide !== undefined)) input.shorterSide = shorterSide;
  checkInputSpec(input, 'rws pack init', (field) => `--${flagName(field)}`);

  const outputs = model.outputs;
  const output = opts.output !== undefined ? outputs.find((o) => o.name === opts.output) : outputs[0];
  if (!output) throw new RwsError('model-output', `${opts.model}: the model has no output "${opts.output}" (its outputs: ${outputs.map((o) => o.name).join(', ')})`, { file: opts.model, field: '--output' });
  const classes = output.dims[output.dims.length - 1];
  let labels: string[];
  if (opts.labels) {
    labels = await readLabels(opts.labels);
    if (typeof classes === 'number' && classes > 0 && labels.length !== classes) {
      throw new RwsError('labels-count', `${opts.labels}: ${labels.length} labels, but output "${output.name}" [${output.dims.join(', ')}] of ${opts.model} has ${classes} classes`, { file: opts.labels, field: '--labels' });
    }
  } else {
    if (typeof classes !== 'number' || classes < 1) {
      throw new RwsError('usage-labels', `${opts.model}: output "${output.name}" [${output.dims.join(', ')}] has no fixed number of classes; give the labels with --labels FILE`, { file: opts.model, field: '--labels' });
    }
    labels = Array.from({ length: classes }, (_, i) => String(i));
  }

  // A model that ends in a Softmax over the classes gives probabilities (a softmax on them would flatten the scores).
  const last = model.graphIndex().producer.get(output.name);
  const rank = output.dims.length;
  const endsInSoftmax = last?.op_type === 'Softmax' && rank >= 1 && [rank - 1, -1].includes(intAttr(last, 'axis', rank === 2 ? 1 : -1));
  const outputKind = opts.outputKind ?? (endsInSoftmax ? 'probabilities' : 'logits');

  const dir = opts.out;
  const file = path.join(dir, 'pack.json');
  if (!opts.force && !(await isEmptyOrMissing(dir))) {
    throw new RwsError('pack-out', `${dir}: the folder is not empty; choose a new folder, or add --force to write the pack there (its pack.json and model.onnx are replaced)`, { file: dir, field: '--out' });
  }
  await mkdir(dir, { recursive: true });
  const modelFile = path.join(dir, 'model.onnx');
  // External weights are taken in, so the pack's one model file is all it needs.
  const packModel = model.graph.initializer.some((t) => t.data_location === 1) ? model.encode({ embedExternal: true }) : modelBytes;
  if (path.resolve(modelFile) !== path.resolve(opts.model)) await writeFileAtomic(modelFile, packModel);
  const name = opts.name ?? path.basename(opts.model).replace(/\.onnx$/i, '');
  const manifest = parsePackManifest(
    JSON.stringify({
      format: 'rws-pack/1',
      id: opts.id ?? idFrom(name),
      name,
      version: opts.version ?? '1.0.0',
      task: 'classification',
      model: 'model.onnx',
      modelSha256: sha256Hex(packModel),
      input,
      output: { name: output.name, kind: outputKind },
      labels,
      signatures: [],
      conditions: [],
      mixes: [],
    }),
    file,
  );
  checkPackModel(manifest, model, file);
  const validation = await validate(manifest, model, file);
  await writeFileAtomic(file, `${JSON.stringify(manifest, null, 2)}\n`);
  await loadPack(dir);

  const checks: string[] = [];
  if (!opts.labels) checks.push(`labels: ${labels.length} classes named 0..${labels.length - 1}; give their names with --labels FILE (one per line, in the model's output order)`);
  if (channels === 3 && !opts.colorSpace) checks.push('colour order: rgb (torch and most exporters); models from Caffe or OpenCV pipelines take bgr (--color-space bgr)');
  if (!opts.preset && opts.mean === undefined && opts.std === undefined && opts.range === undefined) {
    checks.push(`preprocessing: none (values 0-1, no mean/std, stretched to ${width}×${height}); a torchvision model wants --preset imagenet (ImageNet mean/std, resize ${Math.round(Math.max(width, height) / (224 / 256))} then centre-crop ${width}×${height})`);
  } else {
    checks.push('preprocessing: must be what the model was trained with (range, mean, std, resize)');
  }
  if (!opts.outputKind && endsInSoftmax) checks.push(`output "${output.name}" taken as probabilities: the model ends in a Softmax (${last!.name || 'unnamed'}); use --output-kind logits if it does not give the classes' probabilities`);
  else if (!opts.outputKind) checks.push(`output "${output.name}" taken as logits (a softmax is applied); use --output-kind probabilities if the model ends in a softmax`);
  if (outputs.length > 1 && opts.output === undefined) checks.push(`the model has ${outputs.length} outputs (${outputs.map((o) => o.name).join(', ')}); the first is used (--output NAME to choose)`);
  return {
    dir,
    manifest,
    model: {
      file: opts.model,
      bytes: packModel.length,
      sha256: manifest.modelSha256!,
      inputType: ELEM_NAMES[read.input.elemType] ?? String(read.input.elemType),
      inputDims: read.input.dims,
      outputDims: output.dims,
      batch: read.batch ?? 'dynamic',
    },
    sources,
    checks,
    warnings,
    validation,
  };
}

/** What `rws pack add-signature` did for one file. */
export interface AddedSignature {
  id: string;
  condition: string;
  file: string;
  sha256: string;
  /** `updated` when the pack already listed a signature of that id. */
  action: 'added' | 'updated';
  transfer: boolean;
}

/**
 * Adds signatures to a pack: each is checked against the pack's model (a signature made for
 * another model is refused unless declared a transfer), copied into the pack's `signatures/`,
 * and listed with its id, condition and SHA-256 from its own metadata, plus a condition of the
 * same id that applies it at full strength.
 */
export async function addSignatures(dir: string, files: string[], opts: { transfer?: boolean } = {}): Promise<AddedSignature[]> {
  const file = path.join(dir, 'pack.json');
  const pack = await loadPack(dir);
  const model = await loadOnnx(pack.modelPath, { sha256: pack.modelSha256 });
  const raw = JSON.parse(await readRegularText(file, { what: 'the pack manifest', code: 'pack-missing', maxBytes: MAX_MANIFEST_BYTES })) as Record<string, unknown> & { signatures?: Record<string, unknown>[]; conditions?: Record<string, unknown>[] };
  raw.signatures ??= [];
  raw.conditions ??= [];
  const done: AddedSignature[] = [];
  const loaded: { sig: Signature; source: string; bytes: Buffer }[] = [];
  for (const source of files) {
    // Read once: the bytes checked against the model are the ones copied and hashed.
    const bytes = await readRegularFile(source, { what: 'the signature', code: 'signature-read', maxBytes: MAX_MODEL_BYTES });
    loaded.push({ sig: await readSignature(source, sha256Hex(bytes)), source, bytes });
  }
  const ids = loaded.map((l) => l.sig.meta.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new RwsError('signature-duplicate', `${loaded.filter((l) => l.sig.meta.id === twice).map((l) => l.source).join(' and ')}: two signatures with id "${twice}"`, { field: 'id' });
  for (const { sig, source, bytes } of loaded) {
    const fit = checkFit(model, sig);
    const hashOnly = fit.problems.every((p) => p.kind === 'hash' || p.kind === 'unhashed');
    if (!fit.fits && !(opts.transfer && hashOnly)) {
      const first = fit.problems[0]!;
      const hint = hashOnly ? ' (add --transfer if it was made on another base model on purpose)' : '';
      throw new RwsError('signature-mismatch', `${source}: does not fit ${pack.modelPath}: ${first.message}${fit.problems.length > 1 ? ` (and ${fit.problems.length - 1} more)` : ''}${hint}`, { file: source, field: first.tensor });
    }
    const id = sig.meta.id;
    const target = path.join(dir, 'signatures', `${id}.rws.safetensors`);
    await mkdir(path.dirname(target), { recursive: true });
    if (path.resolve(target) !== path.resolve(source)) await writeFileAtomic(target, bytes);
    const sha256 = sha256Hex(bytes);
    const entry = { id, condition: sig.meta.condition, sha256, ...(opts.transfer ? { transfer: true } : {}) };
    const at = raw.signatures.findIndex((s) => s.id === id);
    if (at >= 0) raw.signatures[at] = entry;
    else raw.signatures.push(entry);
    if (!raw.conditions.some((c) => c.id === id)) raw.conditions.push({ id, name: sig.meta.condition, mix: { [id]: 1 } });
    done.push({ id, condition: sig.meta.condition, file: target, sha256, action: at >= 0 ? 'updated' : 'added', transfer: Boolean(opts.transfer) });
  }
  const text = `${JSON.stringify(raw, null, 2)}\n`;
  parsePackManifest(text, file);
  await writeFileAtomic(file, text);
  await loadPack(dir);
  return done;
}
