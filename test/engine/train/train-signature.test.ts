// Training a signature (rws train's engine): what it trains, what the signature then patches, the
// clean model's own targets, and stopping and resuming. Tiny torch-exported models (32×32, 10
// classes) and a few dozen generated images keep each training to a few seconds.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDraw } from '../../../main/core/corruptions/mixture.js';
import { decodeSignature } from '../../../main/core/signature-codec.js';
import type { Signature } from '../../../main/core/signature.js';
import { argmaxRow, batchDims, rowProbabilities, unitToBytes } from '../../../main/core/tensors.js';
import { toTensor } from '../../../main/engine/io/image-decode.js';
import { loadOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { parsePackManifest, type PackManifest } from '../../../main/engine/packs/pack.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';
import { batchInput, imageOf, loadTrainingImages, type TrainingImages } from '../../../main/engine/train/train-data.js';
import { defaultEpochs, MAX_DEFAULT_EPOCHS, MIN_DEFAULT_STEPS, runsAtAnyBatch, splitImages, stepImages, TARGET_TEMPERATURE, trainSignature, type TrainContext, type TrainSettings } from '../../../main/engine/train/train-signature.js';
import { TrainCheckpoint } from '../../../main/engine/train/train-state.js';
import { pythonCommand, TorchGraph, type StepTarget } from '../../../main/engine/train/torch-graph.js';
import { testImage } from '../folder/fixtures.js';
import { familyFiles } from '../../fixtures/families.js';
import { ortOutputs } from '../../fixtures/ort-outputs.js';

const hasTorch = spawnSync(pythonCommand(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`SKIPPED test/engine/train/train-signature: ${pythonCommand()} has no torch (apt-get install python3-torch, or set RWS_PYTHON)`);

const LABELS = Array.from({ length: 10 }, (_, i) => `class ${i}`);
let dir: string;
let data: TrainingImages;
let graph: TorchGraph | undefined;

function manifestFor(model: OnnxModel): PackManifest {
  return parsePackManifest(
    JSON.stringify({
      format: 'rws-pack/1',
      id: 'tiny',
      name: 'tiny',
      version: '1',
      task: 'classification',
      model: 'model.onnx',
      input: { name: model.inputs[0]!.name, layout: 'NCHW', width: 32, height: 32, channels: 3, colorSpace: 'rgb', range: [0, 1], mean: [0.5], std: [0.25], resize: 'fill' },
      output: { name: model.outputs[0]!.name, kind: 'logits' },
      labels: LABELS,
    }),
    'pack.json',
  );
}

const SETTINGS: TrainSettings = {
  condition: 'fog',
  id: 'fog',
  layers: 'auto',
  labels: 'folder',
  epochs: 1,
  batch: 8,
  lr: 0.05,
  cleanShare: 0.3,
  weightDecay: 5e-4,
  batchNorm: 'adapt',
  seed: 3,
  holdout: 6,
  exclude: [],
  strength: [1, 5],
  quant: 'f32',
  saveEvery: 0,
  threads: 1,
};

async function context(model: OnnxModel, state: string, extra: Partial<TrainContext> = {}): Promise<TrainContext> {
  graph ??= await TorchGraph.open(model, { threads: 1 });
  return { manifest: manifestFor(model), model, modelSha256: 'a'.repeat(64), data, graph, checkpoint: new TrainCheckpoint(path.join(dir, state)), resume: false, ...extra };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rws-train-'));
  const images = path.join(dir, 'images');
  // 30 images in class sub-folders 0..9.
  for (let i = 0; i < 30; i++) {
    const sub = path.join(images, String(i % 10));
    mkdirSync(sub, { recursive: true });
    await testImage(i, 40, 36).png().toFile(path.join(sub, `${i}.png`));
  }
  const model = await loadOnnx(familyFiles(['resnet'])[0]!.file);
  data = await loadTrainingImages(images, manifestFor(model).input, LABELS);
});
afterAll(async () => {
  await graph?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The clean weights with the signature added as the patcher adds it (log-space for BatchNorm variances). */
function patchedWeights(model: OnnxModel, sig: Signature): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const t of sig.tensors) {
    const clean = model.floats(t.name);
    out.set(t.name, Float32Array.from(clean, (v, i) => (t.mode === 'log' ? v * Math.exp(t.values[i]!) : v + t.values[i]!)));
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.skipIf(!hasTorch)('trainSignature: the signature patches exactly what was trained, and only the first K layers', () => {
  for (const f of familyFiles(['resnet', 'mobilenetv3']).filter((x) => x.batch === 'dynamic')) {
    it(`${f.stem}: patched = trained within 1e-5, every other weight untouched`, async () => {
      const model = await loadOnnx(f.file);
      const r = await trainSignature(await context(model, `${f.stem}-state`), { ...SETTINGS, layers: 3 });
      const sig = decodeSignature(r.bytes!, 'fog.rws.safetensors');
      const k3 = model.layers().slice(0, 3).flatMap((l) => l.tensors.map((t) => t.name));
      expect(sig.tensors.map((t) => t.name).sort()).toEqual([...k3].sort());
      expect(sig.meta.layers).toBe(3);
      const trained = await graph!.weights();
      const patched = patchedWeights(model, sig);
      let moved = 0;
      for (const init of model.initializers()) {
        const now = trained.get(init.name);
        if (!now) continue;
        const p = patched.get(init.name);
        if (!p) {
          expect(maxDiff(now, model.floats(init.name)), init.name).toBe(0);
          continue;
        }
        const scale = Math.max(1, ...Array.from(now, Math.abs));
        expect(maxDiff(p, now) / scale, init.name).toBeLessThanOrEqual(1e-5);
        if (maxDiff(now, model.floats(init.name)) > 0) moved++;
      }
      expect(moved).toBeGreaterThan(0);
      // onnxruntime with the signature patched in computes what torch computes with the trained weights.
      const input = new Float32Array(2 * 3 * 32 * 32).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
      const [ours] = await graph!.forward(input, [2, 3, 32, 32]);
      const patcher = await Patcher.create(model, new Map([['fog', sig]]), { threads: 1 });
      await patcher.setMix({ fog: 1 });
      const theirs = await patcher.run(input, [2, 3, 32, 32]);
      await patcher.dispose();
      expect(maxDiff(ours!, theirs)).toBeLessThanOrEqual(1e-4);
      // What was measured on the held-back images is stored with the signature.
      expect(sig.meta.effect).toMatchObject({ images: 6, against: 'labels', training: { images: 24, epochs: 1, steps: 3, targets: 'labels' } });
      expect(Object.keys((sig.meta.effect as { families: object }).families).sort()).toEqual(['display-haze', 'imagenet-c', 'physical', 'rws-v1']);
    });
  }
});

describe.skipIf(!hasTorch)('trainSignature --labels model: the clean model\'s own predictions on the uncorrupted images are the targets', () => {
  it('every image of a step is corrupted, its target is the clean model\'s softmax on the clean image at temperature 0.5', async () => {
    const model = await loadOnnx(familyFiles(['resnet'])[1]!.file);
    const ctx = await context(model, 'distil-state');
    const seen: { input: Float32Array; target: StepTarget }[] = [];
    const step = ctx.graph.step.bind(ctx.graph);
    ctx.graph.step = (input, dims, target, opts) => {
      seen.push({ input: input.slice(), target });
      return step(input, dims, target, opts);
    };
    const settings = { ...SETTINGS, labels: 'model' as const, cleanShare: 0 };
    try {
      await trainSignature(ctx, settings);
    } finally {
      ctx.graph.step = step;
    }
    expect(seen).toHaveLength(3);
    const { train } = splitImages(data.pixels.length, settings.holdout, settings.seed);
    const { idx, draws } = stepImages(train, settings, 0);
    const spec = ctx.manifest.input;
    const per = 3 * 32 * 32;
    const clean = new Float32Array(idx.length * per);
    const corrupted = new Float32Array(idx.length * per);
    idx.forEach((i, j) => {
      clean.set(toTensor(data.pixels[i]!, 3, spec), j * per);
      corrupted.set(toTensor(unitToBytes(applyDraw(imageOf(data, i), draws[j]!).data), 3, spec), j * per);
    });
    expect(maxDiff(seen[0]!.input, corrupted)).toBe(0);
    expect(maxDiff(seen[0]!.input, clean)).toBeGreaterThan(0.05);
    const [logits] = (await ortOutputs(model, { data: clean, dims: batchDims(spec, idx.length) })) as [Float32Array];
    // Sharpened as a softmax of logits / T, not as the engine does it (p^(1/T), renormalised).
    expect(TARGET_TEMPERATURE).toBe(0.5);
    const sharpLogits = logits.map((v) => v / TARGET_TEMPERATURE);
    const want = new Float32Array(idx.length * 10);
    const plain = new Float32Array(idx.length * 10);
    idx.forEach((_, j) => {
      want.set(rowProbabilities(sharpLogits, j, 10, 'logits'), j * 10);
      plain.set(rowProbabilities(logits, j, 10, 'logits'), j * 10);
    });
    const target = seen[0]!.target;
    expect('probabilities' in target).toBe(true);
    const got = (target as { probabilities: Float32Array }).probabilities;
    expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-5);
    // The plain probabilities are far enough from the sharpened ones for the check above to tell them apart.
    expect(maxDiff(got, plain)).toBeGreaterThan(1e-3);
    // Sharpening keeps each image's top class.
    idx.forEach((_, j) => expect(argmaxRow(got, j, 10)).toBe(argmaxRow(plain, j, 10)));
  });
});

describe.skipIf(!hasTorch)('trainSignature --labels model, several conditions on the same images', () => {
  it('computes the clean model\'s targets once, and each training still finds them on --resume', async () => {
    const model = await loadOnnx(familyFiles(['resnet'])[1]!.file);
    const ctx = await context(model, 'targets-fog');
    const settings = { ...SETTINGS, labels: 'model' as const };
    const forward = ctx.graph.forward.bind(ctx.graph);
    let calls = 0;
    ctx.graph.forward = (...a) => {
      calls++;
      return forward(...a);
    };
    try {
      await trainSignature(ctx, settings);
      const first = calls;
      expect(first).toBeGreaterThan(0);
      const controller = new AbortController();
      const rain = { ...ctx, checkpoint: new TrainCheckpoint(path.join(dir, 'targets-rain')), signal: controller.signal, onProgress: () => controller.abort() };
      const stopped = await trainSignature(rain, { ...settings, condition: 'rain', id: 'rain' });
      expect(stopped.stopped).toBeDefined();
      expect(calls).toBe(first);
      expect(await rain.checkpoint.targets(data.pixels.length * 10)).toBeInstanceOf(Float32Array);
      // The targets' temperature is part of what a resume must find again: a state saved before
      // rws train sharpened them (no temperature: 1) is refused, naming the field.
      const state = JSON.parse(await readFile(rain.checkpoint.stateFile, 'utf8')) as { identity: Record<string, unknown> };
      expect(state.identity.targetTemperature).toBe(TARGET_TEMPERATURE);
      delete state.identity.targetTemperature;
      await writeFile(rain.checkpoint.stateFile, JSON.stringify(state));
      const resumed = { ...rain, signal: undefined, onProgress: undefined, resume: true };
      await expect(trainSignature(resumed, { ...settings, condition: 'rain', id: 'rain' })).rejects.toMatchObject({
        code: 'usage-train-changed',
        field: 'identity.targetTemperature',
        message: expect.stringContaining(`it was 1, now ${TARGET_TEMPERATURE}`),
      });
    } finally {
      ctx.graph.forward = forward;
    }
  });
});

describe.skipIf(!hasTorch)('trainSignature: stopped, then resumed, it goes on where it stopped', () => {
  it('gives the signature an uninterrupted training gives', async () => {
    const model = await loadOnnx(familyFiles(['resnet'])[1]!.file);
    const settings = { ...SETTINGS, epochs: 2 };
    const whole = await trainSignature(await context(model, 'whole-state'), settings);
    expect(whole.steps).toBe(6);
    const controller = new AbortController();
    const ctx = await context(model, 'stopped-state', { signal: controller.signal });
    let steps = 0;
    const stopped = await trainSignature({ ...ctx, onProgress: (p) => p.phase === 'train' && ++steps === 2 && controller.abort() }, settings);
    expect(stopped.stopped).toEqual({ step: 2, totalSteps: 6 });
    // Without --resume a saved state is refused, naming it; with another setting too, naming the field.
    const again = await context(model, 'stopped-state');
    await expect(trainSignature(again, settings)).rejects.toMatchObject({ code: 'usage-train-exists', message: expect.stringContaining(path.join(dir, 'stopped-state', 'state.json')) });
    await expect(trainSignature({ ...again, resume: true }, { ...settings, lr: 0.07 })).rejects.toMatchObject({ code: 'usage-train-changed', field: 'identity.lr' });
    const resumed = await trainSignature({ ...again, resume: true }, settings);
    expect(resumed.resumedAt).toBe(2);
    const a = decodeSignature(whole.bytes!, 'a');
    const b = decodeSignature(resumed.bytes!, 'b');
    expect(b.tensors.map((t) => t.name)).toEqual(a.tensors.map((t) => t.name));
    a.tensors.forEach((t, i) => expect(maxDiff(t.values, b.tensors[i]!.values), t.name).toBeLessThanOrEqual(1e-6));
  });
});

describe.skipIf(!hasTorch)('trainSignature: refusals name the file and the field', () => {
  it('an unknown family to leave out, and --labels folder on images without labels', async () => {
    const model = await loadOnnx(familyFiles(['resnet'])[1]!.file);
    const ctx = await context(model, 'refused-state');
    await expect(trainSignature(ctx, { ...SETTINGS, exclude: ['nonsense'] })).rejects.toMatchObject({ code: 'usage-family', field: '--exclude-family', message: expect.stringMatching(/--exclude-family nonsense: not a family or lineage of fog \(imagenet-c, physical, display-haze\)/) });
    const unlabelled = { ...data, labels: undefined, labelSource: undefined };
    await expect(trainSignature({ ...ctx, data: unlabelled }, SETTINGS)).rejects.toMatchObject({ code: 'train-labels', field: '--labels' });
  });
});

describe.skipIf(!hasTorch)('runsAtAnyBatch: a model exported with a fixed batch trains in whole batches where its graph allows', () => {
  it('says so exactly when the whole batch through torch gives what onnxruntime gives for the dynamic-batch export of the same model', async () => {
    const verdicts = new Map<string, boolean>();
    for (const f of familyFiles().filter((x) => x.batch === 'fixed')) {
      const model = await loadOnnx(f.file);
      const twin = await loadOnnx(f.file.replace('-fixed.onnx', '-dynamic.onnx'));
      const g = (await context(model, `${f.stem}-batch`)).graph;
      await g.load(model);
      const spec = manifestFor(model).input;
      const verdict = await runsAtAnyBatch(g, data, spec, 1);
      // The truth, from onnxruntime: the same model, exported with a dynamic batch, run on the same 8 images.
      const input = await batchInput(data, [0, 1, 2, 3, 4, 5, 6, 7], spec, () => undefined);
      const dims = batchDims(spec, 8);
      const expected = await ortOutputs(twin, { data: input, dims });
      const whole = await g.forward(input, dims).catch(() => undefined);
      const same = whole !== undefined && whole.length === expected.length &&
        whole.every((w, i) => w.length === expected[i]!.length && maxDiff(w, expected[i]!) <= 1e-4 * Math.max(1, ...Array.from(expected[i]!, Math.abs)));
      expect(verdict, f.stem).toBe(same);
      verdicts.set(f.stem, verdict);
    }
    // Both answers occur: the convolutional classifiers flatten (any batch), the ViT and SSDLite exports reshape to batch 1.
    expect(verdicts.get('mobilenetv3-folded-fixed')).toBe(true);
    expect(verdicts.get('vit-folded-fixed')).toBe(false);
  });
});

describe('defaultEpochs: the recipe\'s passes, and more on a small folder', () => {
  it('gives low light, alone or in a pair at night, a third pass', () => {
    expect(['fog', 'rain', 'snow', 'noise', 'motion-blur'].map((c) => defaultEpochs(c))).toEqual([2, 2, 2, 2, 2]);
    expect(['low-light', 'foggy-night', 'night-rain'].map((c) => defaultEpochs(c))).toEqual([3, 3, 3]);
  });

  it('keeps the recipe\'s passes on the recipe\'s images, and gives a small folder enough for MIN_DEFAULT_STEPS steps', () => {
    // The recipe: 59,000 images in batches of 128, 461 steps a pass.
    expect(defaultEpochs('fog', 59_000, 128)).toBe(2);
    expect(defaultEpochs('low-light', 59_000, 128)).toBe(3);
    // 1,800 images: 15 steps a pass at 128 (14 passes make 210), 57 at 32 (4 make 228).
    expect(defaultEpochs('fog', 1800, 128)).toBe(14);
    expect(defaultEpochs('fog', 1800, 32)).toBe(4);
    for (const [images, batch] of [[1800, 128], [1800, 32], [27, 8], [5000, 128], [12_000, 128]] as const) {
      const epochs = defaultEpochs('rain', images, batch);
      const perPass = Math.ceil(images / batch);
      expect(epochs * perPass).toBeGreaterThanOrEqual(MIN_DEFAULT_STEPS);
      // The fewest passes that make it, and never fewer than the recipe's.
      if (epochs > 2) expect((epochs - 1) * perPass).toBeLessThan(MIN_DEFAULT_STEPS);
    }
    // A folder of a batch or less: one step a pass, and no more than MAX_DEFAULT_EPOCHS passes of it.
    expect(defaultEpochs('fog', 90, 128)).toBe(MAX_DEFAULT_EPOCHS);
    expect(defaultEpochs('fog', 300, 128)).toBe(MAX_DEFAULT_EPOCHS);
    expect(defaultEpochs('fog', 600, 128)).toBe(40);
  });
});

describe('stepImages --nuisances: camera nuisances on half of the corrupted images', () => {
  it('adds a nuisance seed to about half of the corrupted draws, the same for the same seed, and leaves the draws without it as they were', () => {
    const train = Array.from({ length: 4000 }, (_, i) => i);
    const s = { ...SETTINGS, batch: 4000 };
    const plain = stepImages(train, s, 0);
    const withN = stepImages(train, { ...s, nuisances: 'standard' as const }, 0);
    expect(withN.idx).toEqual(plain.idx);
    expect(plain.draws.some((d) => d?.nuisance !== undefined)).toBe(false);
    const corrupted = withN.draws.filter((d) => d !== undefined);
    const share = corrupted.filter((d) => d!.nuisance !== undefined).length / corrupted.length;
    expect(share).toBeGreaterThan(0.45);
    expect(share).toBeLessThan(0.55);
    // Clean or corrupted, family, strength and seed are what they are without nuisances.
    expect(withN.draws.map((d) => d && { ...d, nuisance: undefined })).toEqual(plain.draws.map((d) => d && { ...d, nuisance: undefined }));
    expect(stepImages(train, { ...s, nuisances: 'standard' as const }, 0).draws).toEqual(withN.draws);
    // The standard reach is the draws' default, so it is not written into them.
    expect(corrupted.some((d) => d!.nuisanceLevel !== undefined)).toBe(false);
  });

  it('--nuisances wide: the same draws, each nuisance marked wide', () => {
    const train = Array.from({ length: 1000 }, (_, i) => i);
    const s = { ...SETTINGS, batch: 1000 };
    const std = stepImages(train, { ...s, nuisances: 'standard' as const }, 0);
    const wide = stepImages(train, { ...s, nuisances: 'wide' as const }, 0);
    const marked = wide.draws.filter((d) => d?.nuisance !== undefined);
    expect(marked.length).toBeGreaterThan(100);
    expect(marked.every((d) => d!.nuisanceLevel === 'wide')).toBe(true);
    expect(wide.draws.map((d) => d && { ...d, nuisanceLevel: undefined })).toEqual(std.draws.map((d) => d && { ...d, nuisanceLevel: undefined }));
  });
});
