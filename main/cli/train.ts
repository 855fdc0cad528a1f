import { InvalidArgumentError, Option, type Command } from 'commander';
import { described } from './commands.js';
import cliProgress from 'cli-progress';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CONDITIONS } from '../core/corruptions/index.js';
import { NUISANCE_LEVELS, type NuisanceLevel } from '../core/corruptions/nuisance.js';
import { RwsError } from '../core/errors.js';
import type { Quantization } from '../core/signature.js';
import { scoreClassifierOn, trainClassifierOn, writePackAutoMix } from '../engine/auto/train.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { loadOnnx } from '../engine/onnx/model.js';
import { addSignatures } from '../engine/packs/pack-init.js';
import { loadPack } from '../engine/packs/pack.js';
import { sha256File } from '../engine/packs/trust.js';
import type { HeldBackEffect } from '../engine/train/measure.js';
import { imageOf, loadTrainingImages, type TrainingImages } from '../engine/train/train-data.js';
import { defaultEpochs, MAX_DEFAULT_EPOCHS, MIN_DEFAULT_STEPS, runsAtAnyBatch, TARGET_TEMPERATURE, trainedLayers, trainSignature, type TrainProgress, type TrainSettings } from '../engine/train/train-signature.js';
import { TrainCheckpoint } from '../engine/train/train-state.js';
import { blasNote, TorchGraph } from '../engine/train/torch-graph.js';
import { EXIT } from './exit.js';
import { formatBytes, numberIn, oneOf, parseLayers, positiveInt } from './options.js';

/** `--holdout`: a count of images, or a share of them below 1. */
function parseHoldout(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (n >= 1 && !Number.isInteger(n))) throw new InvalidArgumentError('expected a whole number of images, or a share below 1 (0.1)');
  return n;
}

/** `--strength`: `LO-HI` within 1..5, fractions allowed. */
function parseStrength(v: string): [number, number] {
  const m = /^\s*([0-9.]+)\s*(?:-\s*([0-9.]+))?\s*$/.exec(v);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(lo >= 1 && hi <= 5 && hi >= lo)) throw new InvalidArgumentError('expected a strength range within 1-5, like 1-5 or 2-4');
  return [lo, hi];
}

function list(v: string): string[] {
  return v.split(',').map((x) => x.trim()).filter(Boolean);
}

function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

interface TrainCliOptions {
  pack: string;
  data: string;
  condition?: string[];
  layers: number | 'auto' | string[];
  labels?: 'folder' | 'model';
  epochs?: number;
  out?: string;
  id?: string;
  lr: number;
  batch?: number;
  cleanShare: number;
  weightDecay: number;
  batchnorm?: 'adapt' | 'fixed';
  seed: number;
  limit?: number;
  holdout: number;
  excludeFamily?: string[];
  strength?: [number, number];
  nuisances?: NuisanceLevel;
  quant: Quantization;
  threads?: number;
  resume?: boolean;
  replace?: boolean;
  add: boolean;
  saveEvery: number;
  auto?: boolean;
  autoPerClass?: number;
}

/** What the progress line shows: a training's phases, reading the images, the Auto classifier's images. */
type Progress = Omit<TrainProgress, 'phase'> & { phase: TrainProgress['phase'] | 'read' | 'auto' };

const PHASE_TEXT: Record<Exclude<Progress['phase'], 'train'>, string> = {
  read: 'reading images',
  targets: 'the clean model\'s targets',
  measure: 'measuring on held-back images',
  auto: 'corrupted images',
};

/** Progress on stderr: a bar with an ETA on a terminal, a line every few seconds otherwise. */
class ProgressLine {
  private bar?: cliProgress.SingleBar;
  private phase = '';
  private lastLine = 0;
  constructor(private readonly tty: boolean) {}

  update(label: string, p: Progress): void {
    const what = p.phase === 'train' ? `${label}: epoch ${p.epoch}/${p.epochs}, step` : `${label}: ${PHASE_TEXT[p.phase]},`;
    const extra = p.phase === 'train' && p.loss !== undefined ? ` | loss ${p.loss.toFixed(3)}, top = target ${pct(p.agreement ?? 0)}` : '';
    const rate = p.rate ? ` | ${p.rate.toFixed(p.rate < 10 ? 1 : 0)} img/s` : '';
    if (this.tty) {
      if (this.phase !== p.phase) {
        this.bar?.stop();
        this.bar = new cliProgress.SingleBar({ format: ' {what} {value}/{total} {bar} {extra}{rate} | ETA {eta_text}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic);
        this.bar.start(p.total, p.done, { what, extra, rate, eta_text: duration(p.eta) });
        this.phase = p.phase;
      }
      this.bar!.setTotal(p.total);
      this.bar!.update(p.done, { what, extra, rate, eta_text: duration(p.eta) });
      return;
    }
    const now = Date.now();
    if (now - this.lastLine < 10_000 && p.done < p.total) return;
    this.lastLine = now;
    console.error(`rws train: ${what} ${p.done}/${p.total}${extra}${rate} | ETA ${duration(p.eta)}`);
  }

  /** A line of its own, above the bar. */
  say(line: string): void {
    if (this.bar) process.stderr.write('\r\x1b[2K');
    console.error(line);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.phase = '';
  }
}

function printEffect(e: HeldBackEffect, condition: string): void {
  const against = e.against === 'labels' ? 'top-1 accuracy against the data\'s labels' : 'agreement with the clean model\'s top class on the clean image (the data has no labels)';
  console.log(`  measured on ${e.images} held-back images, ${against}:`);
  console.log(`    ${'images'.padEnd(34)} ${'clean model'.padStart(11)} ${'patched'.padStart(8)}`);
  const row = (name: string, p: { clean: number; patched: number }) => console.log(`    ${name.padEnd(34)} ${pct(p.clean).padStart(11)} ${pct(p.patched).padStart(8)}`);
  row(`${condition}, trained families`, e.corrupted);
  for (const [id, f] of Object.entries(e.families)) row(`  ${id}${f.leftOut ? ' (left out of training)' : ''}`, f);
  if (e.leftOut) row(`${condition}, left out (${e.leftOut.lineages.join(', ')})`, e.leftOut);
  row('clean images', e.cleanImages);
}

/** Registers `rws train`: train signatures for a pack's model on the user's images. */
export function register(program: Command): void {
  program
    .command('train')
    .description(described('train'))
    .requiredOption('--pack <dir>', 'the pack whose model to train signatures for (rws pack init makes one)')
    .requiredOption('--data <folder>', 'the images: any folder of images (unlabelled), a folder with one sub-folder per class (named by label or index), or IDX files (…-images-idx3-ubyte[.gz] with their labels)')
    .option('--condition <ids>', `conditions to train a signature for, comma-separated (${CONDITIONS.map((c) => c.id).join(', ')})`, list)
    .option('--layers <k|auto|names>', 'layers to train (the signature holds them): the first k; auto: the stem and the first stage; or layer names/patterns, comma-separated (rws inspect MODEL lists them)', parseLayers, 'auto' as number | 'auto' | string[])
    .option('--labels <source>', `targets: folder (the data's labels: class sub-folders or IDX labels) or model (the clean model's own prediction on the uncorrupted image, its probabilities sharpened to temperature ${TARGET_TEMPERATURE}: no labels needed); default folder when the data has labels, else model`, oneOf(['folder', 'model'] as const))
    .option('--epochs <n>', `passes over the training images (default 2; 3 for low light and the conditions at night, as the recipe trains them; more where that would be fewer than ${MIN_DEFAULT_STEPS} steps, as on a few thousand images)`, positiveInt)
    .option('--out <dir>', 'where to write the signatures (default: the pack\'s signatures/ folder)')
    .option('--id <id>', 'signature id (one condition only; default: the condition, or CONDITION-without-LINEAGE with --exclude-family)')
    .option('--lr <rate>', 'peak learning rate of the one-cycle schedule (SGD, Nesterov momentum)', numberIn(1e-6, 10), 0.1)
    .option('--batch <n>', 'images per step (default 128, or 32 for inputs larger than 96×96)', positiveInt)
    .option('--clean-share <share>', 'share of training images shown clean (keeps clean accuracy while patched)', numberIn(0, 0.95), 0.3)
    .option('--weight-decay <w>', 'pull towards the clean weights', numberIn(0, 1), 5e-4)
    .option('--batchnorm <mode>', 'adapt: BatchNorm statistics of the trained layers follow the corrupted images and go into the signature (a folded model gets its BatchNorm back while training); fixed: they stay the clean model\'s (default adapt; fixed for a model whose batch is fixed below 8 and whose graph needs it)', oneOf(['adapt', 'fixed'] as const))
    .option('--seed <n>', 'seed of the split, the order and the corruptions', (v) => Number.parseInt(v, 10), 0)
    .option('--limit <n>', 'use at most n images of the data', positiveInt)
    .option('--holdout <n|share>', 'images held back to measure the signature on: a count, or a share (at most 1000 images)', parseHoldout, 0.1)
    .option('--exclude-family <lineages>', 'leave these generator families (lineages) out of training and measure on them: leave-one-family-out (rws corrupt --families lists them); the signature is written but not added to the pack', list)
    .option('--strength <range>', 'strengths to train on, 1 (light) to 5 (heavy) (default: 1-5)', parseStrength)
    .addOption(new Option('--nuisances [reach]', `camera nuisances on half of the corrupted images (a little blur, exposure gain, a tone curve, a veil, sensor noise), so that the signature learns the condition rather than its generators; reach: standard (a faint veil; a bare --nuisances) or wide (a veil down to transmission 0.45 and blur to 1.5 px, as heavy rain brings); the default pack's signatures of low light, rain, snow, noise, motion blur and night rain train with standard`).argParser(oneOf(NUISANCE_LEVELS)).preset('standard'))
    .option('--quant <q>', 'signature storage: int8, int4, f16 or f32', oneOf(['int8', 'int4', 'f16', 'f32'] as const), 'int8')
    .option('--threads <n>', 'torch threads (default: all cores)', positiveInt)
    .option('--resume', 'continue a training that was stopped (Ctrl-C) or killed, from its saved state')
    .option('--replace', 'replace a signature of the same id the pack already lists')
    .option('--no-add', 'write the signatures without adding them to the pack')
    .option('--save-every <seconds>', 'save the training state at least this often (and at each epoch\'s end)', numberIn(0, 86400), 60)
    .option('--auto', 'also train the pack\'s Auto condition classifier (autoMix.classifier) on these images')
    .option('--auto-per-class <n>', 'with --auto: corrupted images per condition and strength (default 500, or 60 for inputs larger than 96×96)', positiveInt)
    .action(async (o: TrainCliOptions) => {
      process.exitCode = await train(o);
    });
}

async function train(cli: TrainCliOptions): Promise<number> {
  const o = { ...cli, excludeFamily: cli.excludeFamily ?? [], strength: cli.strength ?? ([1, 5] as [number, number]) };
  const conditions = o.condition ?? [];
  if (!conditions.length && !o.auto) throw new RwsError('usage', '--condition: give the conditions to train signatures for (e.g. --condition fog), or --auto for the Auto classifier', { field: '--condition' });
  for (const c of conditions) {
    if (!CONDITIONS.some((k) => k.id === c)) throw new RwsError('usage-condition', `--condition: unknown condition "${c}" (one of ${CONDITIONS.map((k) => k.id).join(', ')})`, { field: '--condition' });
  }
  if (o.id && conditions.length > 1) throw new RwsError('usage', '--id: names one signature, but several conditions were given', { field: '--id' });
  if (o.id && !/^[a-z0-9][a-z0-9-]*$/.test(o.id)) throw new RwsError('usage', `--id ${o.id}: an id is lower-case letters, digits and dashes`, { field: '--id' });
  const pack = await loadPack(o.pack);
  const m = pack.manifest;
  const spec = m.input;
  const big = spec.width * spec.height > 96 * 96;
  const ids = conditions.map((c) => o.id ?? (o.excludeFamily.length ? `${c}-without-${o.excludeFamily.join('-')}` : c));
  const add = o.add && !o.excludeFamily.length;
  if (add && !o.replace) {
    const listed = ids.find((id) => m.signatures.some((s) => s.id === id));
    if (listed) throw new RwsError('usage-signature-exists', `${path.join(o.pack, 'pack.json')}: field "signatures": the pack already has a signature "${listed}": give --id to train another one, or --replace to replace it`, { file: path.join(o.pack, 'pack.json'), field: 'signatures' });
  }
  const out = o.out ?? path.join(o.pack, 'signatures');
  const model = await loadOnnx(pack.modelPath);
  const modelSha256 = m.modelSha256 ?? (await sha256File(pack.modelPath));

  const controller = new AbortController();
  let interrupts = 0;
  const progress = new ProgressLine(Boolean(process.stderr.isTTY) && !process.env.CI);
  const onSignal = () => {
    if (++interrupts > 1) process.exit(130);
    progress.say('\nrws train: stopping after the step in hand, saving the state (Ctrl-C again to quit now)...');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let graph: TorchGraph | undefined;
  try {
    // The backend first: a missing torch is said before minutes of decoding.
    if (conditions.length) graph = await TorchGraph.open(model, { threads: o.threads });
    const t0 = performance.now();
    const data = await loadTrainingImages(o.data, spec, m.labels, {
      labels: o.labels,
      limit: o.limit,
      signal: controller.signal,
      onProgress: (done, total) => progress.update('data', { phase: 'read', done, total }),
    });
    progress.stop();
    for (const f of data.failed.slice(0, 10)) console.error(`rws: ${f.message}`);
    if (data.failed.length > 10) console.error(`rws: … and ${data.failed.length - 10} more files could not be read`);
    const labels = o.labels ?? (data.labels ? 'folder' : 'model');
    const labelText = data.labels ? (data.labelSource === 'idx' ? 'IDX labels' : 'class sub-folders') : 'none';
    console.error(`rws train: ${data.pixels.length} images from ${data.source} at ${spec.width}×${spec.height} (${data.failed.length} could not be read; labels: ${labelText}) in ${duration((performance.now() - t0) / 1000)}`);

    if (conditions.length) {
      const holdout = o.holdout < 1 ? Math.min(1000, Math.max(1, Math.round(o.holdout * data.pixels.length))) : o.holdout;
      if (holdout >= data.pixels.length) throw new RwsError('usage', `--holdout ${o.holdout}: leaves no image to train on (${data.pixels.length} images)`, { field: '--holdout' });
      const fixed = model.maxBatch();
      const anyBatch = fixed !== undefined && (await runsAtAnyBatch(graph!, data, spec, fixed));
      // Fewer than 8 images at a time give BatchNorm no batch to adapt to.
      const batchNorm = o.batchnorm ?? (!anyBatch && (fixed ?? Infinity) < 8 ? 'fixed' : 'adapt');
      if (anyBatch) console.error(`rws train: ${pack.modelPath} is exported with its batch fixed at ${fixed}, but its graph gives the same outputs at any batch: training in whole batches`);
      else if (!o.batchnorm && batchNorm === 'fixed') {
        console.error(`rws train: ${pack.modelPath}: its graph needs its fixed batch of ${fixed} (it gives other outputs at another): training ${fixed === 1 ? 'one image' : `${fixed} images`} at a time with BatchNorm statistics fixed (slower, and a model with BatchNorm layers, folded or not, trains worse); a model exported with a dynamic batch trains better (torch: torch.onnx.export(..., dynamic_axes={'input': {0: 'batch'}}))`);
      }
      const blas = await blasNote(graph!, model);
      if (blas) console.error(`rws train: ${blas}`);
      const { layers, reason } = trainedLayers(model, o.layers);
      console.error(`rws train: ${layers.length} of ${model.layers().length} layers trained (${reason}): ${layers.map((l) => l.node).join(', ')}`);
      console.error(`rws train: targets: ${labels === 'model' ? `the clean model's own predictions on the uncorrupted images, sharpened to temperature ${TARGET_TEMPERATURE} (self-distillation)` : 'the data\'s labels'}; ${holdout} images held back to measure on`);
      await mkdir(out, { recursive: true });
      const batch = o.batch ?? (big ? 32 : 128);
      const trainImages = data.pixels.length - holdout;
      for (const [k, condition] of conditions.entries()) {
        const id = ids[k]!;
        const checkpoint = new TrainCheckpoint(path.join(out, `${id}.train`));
        // A resumed training goes on with the passes it started with (a default then may differ from one now).
        const started = o.resume && o.epochs === undefined ? (await checkpoint.read())?.identity.epochs : undefined;
        const epochs = o.epochs ?? started ?? defaultEpochs(condition, trainImages, batch);
        if (o.epochs === undefined && started === undefined && epochs > defaultEpochs(condition)) {
          const steps = epochs * Math.ceil(trainImages / batch);
          console.error(`rws train: ${id}: ${epochs} passes over the ${trainImages} training images, ${steps} steps of ${batch} (at least ${MIN_DEFAULT_STEPS}, or ${MAX_DEFAULT_EPOCHS} passes; --epochs to choose)`);
        }
        const settings: TrainSettings = {
          condition,
          id,
          layers: o.layers,
          labels,
          epochs,
          batch,
          lr: o.lr,
          cleanShare: o.cleanShare,
          weightDecay: o.weightDecay,
          batchNorm,
          seed: o.seed,
          holdout,
          exclude: o.excludeFamily,
          strength: o.strength,
          ...(o.nuisances ? { nuisances: o.nuisances } : {}),
          quant: o.quant,
          saveEvery: o.saveEvery,
          threads: o.threads,
        };
        const r = await trainSignature(
          { manifest: m, model, modelSha256, data, graph: graph!, anyBatch, checkpoint, resume: Boolean(o.resume), signal: controller.signal, onProgress: (p) => progress.update(id, p), onNote: (line) => progress.say(`rws train: ${line}`) },
          settings,
        );
        progress.stop();
        if (r.stopped) {
          console.error(`rws train: stopped "${id}" at step ${r.stopped.step} of ${r.stopped.totalSteps}; its state is in ${checkpoint.dir}: run the same command with --resume to continue`);
          return EXIT.fatal;
        }
        const file = path.join(out, `${id}.rws.safetensors`);
        await writeFileAtomic(file, r.bytes!);
        console.log(`signature "${id}" (${condition}) → ${file} (${formatBytes(r.bytes!.length)}, ${o.quant}, ${r.layers.length} layers, ${r.steps} steps in ${duration(r.seconds)}${r.resumedAt ? `, resumed at step ${r.resumedAt}` : ''})`);
        printEffect(r.effect!, condition);
        if (add) {
          const [added] = await addSignatures(o.pack, [file]);
          console.log(`  ${added!.action} in ${path.join(o.pack, 'pack.json')}: try rws run --pack ${o.pack} --mix ${id} IMAGES, or --mix auto`);
        } else if (o.excludeFamily.length) {
          console.log(`  not added to the pack (trained with ${o.excludeFamily.join(', ')} left out: a measurement); add it with rws pack add-signature ${o.pack} ${file}`);
        }
        await checkpoint.remove();
      }
    }
    if (o.auto) await trainAuto(o, data, big);
    return EXIT.ok;
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await graph?.close();
  }
}

/** `--auto`: the pack's condition classifier from the same images, scored on images it was not trained on. */
async function trainAuto(o: Pick<TrainCliOptions, 'pack' | 'autoPerClass'>, data: TrainingImages, big: boolean): Promise<void> {
  const n = data.pixels.length;
  const held = Math.min(Math.max(1, Math.round(n * 0.2)), 500, n - 1);
  const trainImages = { length: n - held, get: (i: number) => imageOf(data, i) };
  const scoreImages = { length: held, get: (i: number) => imageOf(data, n - held + i) };
  const perClass = o.autoPerClass ?? (big ? 60 : 500);
  const progress = new ProgressLine(Boolean(process.stderr.isTTY) && !process.env.CI);
  const t0 = performance.now();
  const classifier = trainClassifierOn(n > 1 ? trainImages : { length: n, get: (i: number) => imageOf(data, i) }, {
    perClass,
    onProgress: (done, total) => {
      const secs = (performance.now() - t0) / 1000;
      progress.update('auto classifier', { phase: 'auto', done, total, rate: done / secs, eta: ((total - done) * secs) / done });
    },
  });
  progress.stop();
  const score = n > 1 ? scoreClassifierOn(classifier, scoreImages, { perClass: Math.max(10, Math.round(perClass / 5)) }) : undefined;
  const file = await writePackAutoMix(o.pack, { classifier });
  console.log(`auto classifier: ${classifier.classes.length} classes from ${n - (n > 1 ? held : 0)} images (${perClass} per condition and strength) → autoMix.classifier in ${file} (${duration((performance.now() - t0) / 1000)})`);
  if (score) console.log(`  condition recognised on ${held} other images: ${Object.entries(score.accuracy).map(([k, v]) => `${k} ${pct(v)}`).join(', ')}`);
  console.log('  it only proposes candidates on camera streams; --mix auto chooses by the model\'s own outputs');
}
