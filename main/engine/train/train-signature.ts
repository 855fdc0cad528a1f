// `rws train` for one condition: the first layers of the pack's model fine-tuned, from its clean
// weights, on its user's images corrupted on the fly by a randomised mixture of the condition's
// generator families and strengths (main/core/corruptions/mixture.ts) with clean images mixed in,
// as the recipe trains the shipped signatures; the targets are the images' labels, or the clean
// model's own predictions on the uncorrupted images, sharpened (self-distillation: no labels
// needed; see TARGET_TEMPERATURE). The
// gradients come from the torch backend (torch-graph.ts); the signature is the trained layers'
// difference from the clean weights, measured on held-back images before it is stored.
import { CONDITIONS, familiesOf } from '../../core/corruptions/index.js';
import { drawCondition, mixtureFamilies, type ConditionDraw } from '../../core/corruptions/mixture.js';
import { NUISANCE_SHARE } from '../../core/corruptions/nuisance.js';
import { encodeSignature, decodeSignature } from '../../core/signature-codec.js';
import { RwsError } from '../../core/errors.js';
import { createRandom, mixSeed, permutation } from '../../core/random.js';
import type { Quantization, Signature } from '../../core/signature.js';
import { argmaxRow, batchDims, rowProbabilities } from '../../core/tensors.js';
import { parseOnnx, type Layer, type OnnxModel } from '../onnx/model.js';
import type { PackManifest } from '../packs/pack.js';
import { extractFromModels, layersByName, type LayerChoice } from '../signatures/extract.js';
import { measureHeldBack, type HeldBackEffect } from './measure.js';
import { oneCycleAt } from './one-cycle.js';
import { shallowLayers } from './shallow-layers.js';
import { batchInput, dataFingerprint, type TrainingImages } from './train-data.js';
import { TrainCheckpoint, type TrainIdentity, type TrainProgressRecord, type TrainState, type TrainSteps } from './train-state.js';
import type { StepTarget, TorchGraph } from './torch-graph.js';

/** Settings of one training; the defaults are the recipe's. */
export interface TrainSettings extends TrainSteps {
  layers: LayerChoice;
  quant: Quantization;
  /** Save the state at least this often (seconds; 0: after every step). */
  saveEvery: number;
  threads?: number;
}

/** How far a training is, for a progress line. */
export interface TrainProgress {
  phase: 'targets' | 'train' | 'measure';
  done: number;
  total: number;
  epoch?: number;
  epochs?: number;
  /** Recent training loss and share of images whose top class was the target's. */
  loss?: number;
  agreement?: number;
  /** Images per second in this run, and seconds left in this phase. */
  rate?: number;
  eta?: number;
}

export interface TrainContext {
  manifest: PackManifest;
  model: OnnxModel;
  /** SHA-256 of the model file. */
  modelSha256: string;
  data: TrainingImages;
  graph: TorchGraph;
  /**
   * The model's batch is fixed (torch's default export), but the backend runs its graph at any
   * batch (`runsAtAnyBatch`): train in whole batches. Otherwise a fixed batch is run that many
   * images at a time.
   */
  anyBatch?: boolean;
  checkpoint: TrainCheckpoint;
  resume: boolean;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  onNote?: (line: string) => void;
}

/** A finished (or stopped) training. */
export interface TrainedSignature {
  /** Set when the training stopped early (Ctrl-C): its state is saved for --resume. */
  stopped?: { step: number; totalSteps: number };
  signature?: Signature;
  /** The signature file's bytes (quantized as asked, effect included). */
  bytes?: Uint8Array;
  effect?: HeldBackEffect & { training: Record<string, unknown> };
  layers: Layer[];
  /** The layers' tensors the backend trained (BatchNorm statistics stay fixed). */
  trained: string[];
  steps: number;
  /** Steps done by earlier runs of this training (resumed). */
  resumedAt: number;
  seconds: number;
}

/**
 * The fewest steps a default training takes. The recipe's passes give its 59,000 images 920 steps;
 * on 1,800 unlabelled images at 96×96 (batch 128) they gave 30, and more steps kept paying (fog,
 * agreement with the clean model on 200 held-back images; steps 30 / 90 / 180 / 360):
 * torchvision's MobileNetV3-small 72 / 79 / 84 / 86% (clean images while patched 88 / 88 / 90 /
 * 91%; physical fog left out of training 57% at 30 steps, 75% at 180), EfficientNet-B0 66 / 75 / 80
 * / – (clean 78 / 86 / 87 / –). 200 takes most of that gain at a fifth of the recipe's time.
 */
export const MIN_DEFAULT_STEPS = 200;
/** …but no more passes than this: on a folder of a batch or two, more passes only repeat the same images. */
export const MAX_DEFAULT_EPOCHS = 50;

/**
 * Passes over the images when none is asked for: the recipe's (a third for low light, alone or in a
 * pair), or more where those would make fewer than MIN_DEFAULT_STEPS steps of `batch` from `images`
 * (at most MAX_DEFAULT_EPOCHS).
 */
export function defaultEpochs(condition: string, images?: number, batch?: number): number {
  const c = CONDITIONS.find((k) => k.id === condition);
  const recipe = condition === 'low-light' || c?.parts?.includes('low-light') ? 3 : 2;
  if (!images || !batch) return recipe;
  return Math.max(recipe, Math.min(MAX_DEFAULT_EPOCHS, Math.ceil(MIN_DEFAULT_STEPS / Math.ceil(images / batch))));
}

/**
 * `--labels model` trains towards the clean model's probabilities on the clean image sharpened to
 * temperature 0.5 (p^2, renormalised: the softmax of its logits / 0.5). Measured against labelled
 * training on the default pack (4,000 images, K = 5, 2 epochs, seeds 0-2), on foggy night's
 * left-out family: plain probabilities fell 4 pp behind in one seed, hard pseudo-labels (the top
 * class) 11 pp and swung 20 pp between seeds; sharpened ones were never more than 1 pp behind, and
 * matched the others in family and on fog and low light. Soft enough to keep the clean model's
 * doubt between look-alike classes, sharp enough that a doubtful prediction still points one way.
 * At full size (59,000 images, 15 layers, lit left out, seed 0; strength 5) neither a lower
 * temperature (0.25: 57.6%) nor each image's loss weighted by the clean model's confidence (57.6%)
 * did better than 0.5 (57.9%); labels reach 67.0% there.
 */
export const TARGET_TEMPERATURE = 0.5;

/** The clean model's probability rows `rows` of `probs`, sharpened to `TARGET_TEMPERATURE`, side by side. */
export function sharpenedTargets(probs: Float32Array, rows: readonly number[], classes: number): Float32Array {
  const out = new Float32Array(rows.length * classes);
  rows.forEach((i, j) => {
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[j * classes + c] = probs[i * classes + c]! ** (1 / TARGET_TEMPERATURE);
    for (let c = 0; c < classes; c++) out[j * classes + c] = out[j * classes + c]! / sum;
  });
  return out;
}

/** Clean training images the virtual BatchNorms of a folded model measure their starting statistics on. */
const CALIBRATION_IMAGES = 512;

/** The layers a `--layers` choice trains, and how they were chosen. */
export function trainedLayers(model: OnnxModel, choice: LayerChoice): { layers: Layer[]; reason: string } {
  const all = model.layers();
  if (!all.length) throw new RwsError('no-layers', `${model.file}: no layer with weights found`, { file: model.file });
  if (choice === 'auto') {
    const c = shallowLayers(model);
    return { layers: c.layers, reason: c.reason };
  }
  if (typeof choice === 'number') {
    if (choice > all.length) throw new RwsError('usage-layers', `--layers ${choice}: ${model.file} has ${all.length} layers`, { file: model.file, field: '--layers' });
    return { layers: all.slice(0, choice), reason: `the first ${choice}` };
  }
  return { layers: layersByName(all, choice, model.file), reason: `named: ${choice.join(',')}` };
}

/**
 * The images of training step `step` (indices into the data: `train` in an order drawn per epoch)
 * and how each is corrupted (undefined: shown clean): from the seed and the step number alone.
 */
export function stepImages(
  train: readonly number[],
  s: Pick<TrainSettings, 'seed' | 'batch' | 'cleanShare' | 'condition' | 'exclude' | 'strength' | 'nuisances'>,
  step: number,
): { idx: number[]; draws: (ConditionDraw | undefined)[] } {
  const stepsPerEpoch = Math.ceil(train.length / s.batch);
  const epoch = Math.floor(step / stepsPerEpoch);
  const order = permutation(train.length, createRandom(mixSeed(s.seed, 2, epoch)));
  const at = (step % stepsPerEpoch) * s.batch;
  const idx = order.slice(at, at + s.batch).map((k) => train[k]!);
  const draws = idx.map((_, j): ConditionDraw | undefined => {
    const rng = createRandom(mixSeed(s.seed, 3, epoch, at + j));
    if (rng.next() < s.cleanShare) return undefined;
    const draw = drawCondition(s.condition, rng, { exclude: s.exclude, strength: s.strength });
    // Drawn only with --nuisances, so that the draws without it stay what they were.
    if (s.nuisances && rng.next() < NUISANCE_SHARE) {
      draw.nuisance = Math.floor(rng.next() * 2 ** 32);
      if (s.nuisances !== 'standard') draw.nuisanceLevel = s.nuisances;
    }
    return draw;
  });
  return { idx, draws };
}

/** The held-back images and the training ones, drawn once from the seed. */
export function splitImages(count: number, holdout: number, seed: number): { held: number[]; train: number[] } {
  const order = permutation(count, createRandom(mixSeed(seed, 1)));
  const h = Math.min(holdout, count - 1);
  return { held: order.slice(0, h).sort((a, b) => a - b), train: order.slice(h).sort((a, b) => a - b) };
}

/** Clean-model targets already computed in this process, per data and model: several conditions trained on the same images share them. */
const targetsComputed = new WeakMap<TrainingImages, WeakMap<OnnxModel, Float32Array>>();

/** The clean model's probabilities for every image (`--labels model` trains towards them sharpened), batch by batch. */
async function cleanTargets(ctx: TrainContext, output: number, classes: number, chunk: number | undefined): Promise<Float32Array> {
  const { data, manifest } = ctx;
  const n = data.pixels.length;
  const computed = targetsComputed.get(data)?.get(ctx.model);
  if (computed) {
    // Saved with this training's state too, so that its --resume finds them.
    await ctx.checkpoint.saveTargets(computed);
    return computed;
  }
  const saved = await ctx.checkpoint.targets(n * classes);
  if (saved) return saved;
  const out = new Float32Array(n * classes);
  const batch = 64;
  const t0 = performance.now();
  for (let start = 0; start < n; start += batch) {
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, j) => start + j);
    const input = await batchInput(data, idx, manifest.input, () => undefined);
    const scores = (await ctx.graph.forward(input, batchDims(manifest.input, idx.length), { chunk }))[output]!;
    for (let j = 0; j < idx.length; j++) out.set(rowProbabilities(scores, j, classes, manifest.output.kind), (start + j) * classes);
    const secs = (performance.now() - t0) / 1000;
    const done = start + idx.length;
    ctx.onProgress?.({ phase: 'targets', done, total: n, rate: done / secs, eta: ((n - done) * secs) / done });
    if (ctx.signal?.aborted) throw new RwsError('train-stopped', 'stopped while computing the clean model\'s targets (nothing to resume yet)');
  }
  await ctx.checkpoint.saveTargets(out);
  targetsComputed.set(data, (targetsComputed.get(data) ?? new WeakMap()).set(ctx.model, out));
  return out;
}

/** Images the check of `runsAtAnyBatch` runs (rounded up to a multiple of the fixed batch). */
const BATCH_CHECK_IMAGES = 8;

/**
 * Whether the backend computes, for a model exported with its batch fixed at `fixed`, the same
 * outputs for a whole batch as for `fixed` images at a time (within 1e-4 of the largest output).
 * torch fixes the batch at 1 by default, and most graphs do not depend on it (a Flatten does not; a
 * Reshape to a constant [1, −1] does). Where they agree, training goes in whole batches, so that
 * BatchNorm can adapt to them: one image at a time, with the statistics fixed, trains a model whose
 * export folded its BatchNorms badly (a MobileNetV3-small lost most of its clean accuracy).
 */
export async function runsAtAnyBatch(graph: TorchGraph, data: TrainingImages, spec: PackManifest['input'], fixed: number): Promise<boolean> {
  const n = Math.min(data.pixels.length, fixed * Math.ceil(BATCH_CHECK_IMAGES / fixed));
  if (n <= fixed || n % fixed) return false;
  const idx = Array.from({ length: n }, (_, i) => i);
  const input = await batchInput(data, idx, spec, () => undefined);
  const dims = batchDims(spec, n);
  const parts = await graph.forward(input, dims, { chunk: fixed });
  let whole: Float32Array[];
  try {
    whole = await graph.forward(input, dims);
  } catch (e) {
    if (e instanceof RwsError && e.code === 'train-backend') return false;
    throw e;
  }
  return whole.length === parts.length && whole.every((w, i) => {
    const p = parts[i]!;
    if (w.length !== p.length) return false;
    let scale = 1;
    let diff = 0;
    for (let j = 0; j < w.length; j++) {
      scale = Math.max(scale, Math.abs(p[j]!));
      diff = Math.max(diff, Math.abs(w[j]! - p[j]!));
    }
    return diff <= 1e-4 * scale;
  });
}

/** Trains one signature (or resumes it), measures it on the held-back images and encodes it. */
export async function trainSignature(ctx: TrainContext, s: TrainSettings): Promise<TrainedSignature> {
  const { model, manifest, data, graph } = ctx;
  const spec = manifest.input;
  const classes = manifest.labels.length;
  const output = model.outputs.findIndex((o) => o.name === manifest.output.name);
  if (output < 0) throw new RwsError('pack-field', `${model.file}: field "output.name": the model has no output "${manifest.output.name}"`, { file: model.file, field: 'output.name' });
  const known = new Set(familiesOf(s.condition).flatMap((f) => [f.id, f.lineage]));
  const unknown = s.exclude.find((e) => !known.has(e));
  if (unknown) {
    throw new RwsError('usage-family', `--exclude-family ${unknown}: not a family or lineage of ${s.condition} (${[...new Set(familiesOf(s.condition).map((f) => f.lineage))].join(', ')})`, { field: '--exclude-family' });
  }
  const families = mixtureFamilies(s.condition, { exclude: s.exclude });
  if (s.labels === 'folder' && !data.labels) throw new RwsError('train-labels', `${data.source}: --labels folder, but these images have no labels`, { file: data.source, field: '--labels' });

  const { layers } = trainedLayers(model, s.layers);
  const tensors = layers.flatMap((l) => l.tensors.map((t) => t.name));
  const { held, train } = splitImages(data.pixels.length, s.holdout, s.seed);
  const stepsPerEpoch = Math.ceil(train.length / s.batch);
  const totalSteps = stepsPerEpoch * s.epochs;
  const identity: TrainIdentity = {
    model: ctx.modelSha256,
    data: dataFingerprint(data),
    condition: s.condition,
    id: s.id,
    tensors,
    labels: s.labels,
    epochs: s.epochs,
    batch: s.batch,
    lr: s.lr,
    cleanShare: s.cleanShare,
    weightDecay: s.weightDecay,
    batchNorm: s.batchNorm,
    seed: s.seed,
    holdout: held.length,
    exclude: s.exclude,
    strength: s.strength,
    ...(s.nuisances ? { nuisances: s.nuisances } : {}),
    ...(s.labels === 'model' ? { targetTemperature: TARGET_TEMPERATURE } : {}),
  };
  const saved = await ctx.checkpoint.start(identity, ctx.resume);
  // The batch the backend runs the graph at (onnxruntime, measuring, keeps the model's own).
  const fixed = ctx.anyBatch ? undefined : model.maxBatch();
  await graph.load(model, { trainable: tensors, threads: s.threads, lr: s.lr, momentum: 0.9, nesterov: true, weightDecay: s.weightDecay, adapt: s.batchNorm === 'adapt' });

  // Targets: labels, or the clean model's probabilities (computed before any step, with the clean weights; sharpened per step).
  const needProbs = s.labels === 'model' || !data.labels;
  const probs = needProbs ? await cleanTargets(ctx, output, classes, fixed) : undefined;
  if (saved) {
    await ctx.checkpoint.restore(graph, saved);
    ctx.onNote?.(`resuming "${s.id}" at step ${saved.step} of ${totalSteps} (${ctx.checkpoint.dir})`);
  } else if (graph.virtual.length) {
    // The virtual BatchNorms start as the identity on clean training images (their statistics measured).
    const shown = train.slice(0, CALIBRATION_IMAGES);
    const size = fixed ?? 64;
    const batches: number[][] = [];
    for (let at = 0; at + (fixed ?? 1) <= shown.length; at += size) batches.push(shown.slice(at, at + size));
    for (const [k, idx] of batches.entries()) {
      await graph.calibrate(await batchInput(data, idx, spec, () => undefined), batchDims(spec, idx.length), k === batches.length - 1);
    }
  }
  const state: Omit<TrainState, 'weights' | 'format'> = saved
    ? { identity, step: saved.step, totalSteps, seconds: saved.seconds, epochs: saved.epochs, running: saved.running }
    : { identity, step: 0, totalSteps, seconds: 0, epochs: [], running: { loss: 0, hits: 0, images: 0 } };
  const resumedAt = state.step;

  const prepare = async (step: number) => {
    const { idx, draws } = stepImages(train, s, step);
    const input = await batchInput(data, idx, spec, (j) => draws[j]);
    let target: StepTarget;
    if (s.labels === 'model') target = { probabilities: sharpenedTargets(probs!, idx, classes) };
    else target = { labels: idx.map((i) => data.labels![i]!) };
    return { input, dims: batchDims(spec, idx.length), target, count: idx.length };
  };

  const t0 = performance.now();
  let lastSave = t0;
  let ema: { loss: number; agreement: number } | undefined;
  let next = state.step < totalSteps ? prepare(state.step) : undefined;
  next?.catch(() => undefined);
  while (state.step < totalSteps) {
    const b = await next!;
    const { lr, momentum } = oneCycleAt({ maxLr: s.lr, totalSteps, pctStart: 0.05 }, state.step);
    const pending = graph.step(b.input, b.dims, b.target, { lr, momentum, output, chunk: fixed, probabilities: manifest.output.kind === 'probabilities' });
    next = state.step + 1 < totalSteps ? prepare(state.step + 1) : undefined;
    next?.catch(() => undefined);
    const r = await pending;
    state.step++;
    state.running.loss += r.loss * b.count;
    state.running.hits += r.hits;
    state.running.images += b.count;
    const agreement = r.hits / b.count;
    ema = ema ? { loss: 0.9 * ema.loss + 0.1 * r.loss, agreement: 0.9 * ema.agreement + 0.1 * agreement } : { loss: r.loss, agreement };
    const epochDone = state.step % stepsPerEpoch === 0;
    if (epochDone) {
      const rec: TrainProgressRecord = { epoch: state.step / stepsPerEpoch, loss: state.running.loss / state.running.images, agreement: state.running.hits / state.running.images };
      state.epochs.push(rec);
      state.running = { loss: 0, hits: 0, images: 0 };
      ctx.onNote?.(`epoch ${rec.epoch}/${s.epochs}: loss ${rec.loss.toFixed(4)}, top class = target on ${(100 * rec.agreement).toFixed(1)}% of the training images (corrupted ones included)`);
    }
    const now = performance.now();
    const secs = (now - t0) / 1000;
    const rate = ((state.step - resumedAt) * s.batch) / secs;
    ctx.onProgress?.({
      phase: 'train',
      done: state.step,
      total: totalSteps,
      epoch: Math.min(s.epochs, Math.floor(state.step / stepsPerEpoch) + 1),
      epochs: s.epochs,
      loss: ema.loss,
      agreement: ema.agreement,
      rate,
      eta: ((totalSteps - state.step) * secs) / (state.step - resumedAt),
    });
    const stopping = Boolean(ctx.signal?.aborted);
    if (stopping || epochDone || state.step === totalSteps || (now - lastSave) / 1000 >= s.saveEvery) {
      await ctx.checkpoint.save(graph, { ...state, seconds: state.seconds + (now - lastSave) / 1000 });
      state.seconds += (now - lastSave) / 1000;
      lastSave = now;
    }
    if (stopping && state.step < totalSteps) {
      return { stopped: { step: state.step, totalSteps }, layers, trained: graph.trainable, steps: totalSteps, resumedAt, seconds: state.seconds };
    }
  }

  // The signature: the trained layers' difference from the clean weights, adapted BatchNorm statistics included (the same code as rws extract).
  const weights = await graph.weights(tensors);
  const trainedModel = parseOnnx(model.encode({ embedExternal: true }), { file: `${model.file} (trained for ${s.id})` });
  for (const [name, v] of weights) trainedModel.setFloats(name, v);
  const ex = extractFromModels(model, trainedModel, undefined, {
    clean: model.file,
    robust: trainedModel.file,
    condition: s.condition,
    id: s.id,
    layers: layers.length && layers.every((l, i) => l.index === i) ? layers.length : layers.map((l) => l.node),
    quant: s.quant,
    severity: s.strength,
    method: 'finetune',
    description: `${layers.length} layers fine-tuned by rws train on ${data.pixels.length - held.length} images of ${data.source}, corrupted by ${families.map((f) => f.id).join(', ')} (strengths ${s.strength.join('-')}) with ${Math.round(s.cleanShare * 100)}% clean; targets: ${s.labels === 'model' ? `the clean model's predictions on the clean images, sharpened to temperature ${TARGET_TEMPERATURE}` : 'labels'}`,
  });
  const signature = ex.signature;
  const stored = decodeSignature(encodeSignature(signature, s.quant), `${s.id}.rws.safetensors`);
  const truth = held.map((i) => (data.labels ? data.labels[i]! : argmaxRow(probs!, i, classes)));
  const tm = performance.now();
  const heldBack = await measureHeldBack(model, stored, data, held, {
    condition: s.condition,
    id: s.id,
    spec,
    inputName: manifest.input.name,
    outputName: manifest.output.name,
    classes,
    exclude: s.exclude,
    strength: s.strength,
    seed: s.seed,
    truth,
    against: data.labels ? 'labels' : 'clean-model',
    threads: s.threads,
    onProgress: (done, total) => {
      const secs = (performance.now() - tm) / 1000;
      ctx.onProgress?.({ phase: 'measure', done, total, rate: done / secs, eta: ((total - done) * secs) / done });
    },
  });
  const last = state.epochs[state.epochs.length - 1];
  const effect = {
    ...heldBack,
    training: {
      images: train.length,
      epochs: s.epochs,
      steps: totalSteps,
      batch: s.batch,
      lr: s.lr,
      cleanShare: s.cleanShare,
      weightDecay: s.weightDecay,
      batchNorm: s.batchNorm,
      strength: s.strength,
      targets: s.labels === 'model' ? 'clean-model' : 'labels',
      ...(s.labels === 'model' ? { targetTemperature: TARGET_TEMPERATURE } : {}),
      families: families.map((f) => f.id),
      ...(s.exclude.length ? { excluded: s.exclude } : {}),
      layers: layers.map((l) => l.node),
      seconds: Math.round(state.seconds),
      ...(last ? { loss: Number(last.loss.toFixed(4)), agreement: Number(last.agreement.toFixed(4)) } : {}),
    },
  };
  signature.meta.effect = effect;
  return { signature, bytes: encodeSignature(signature, s.quant), effect, layers, trained: graph.trainable, steps: totalSteps, resumedAt, seconds: state.seconds };
}
