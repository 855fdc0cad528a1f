// What a trained signature does, measured on images held back from training, through the same
// onnxruntime Patcher that `rws run` uses and the signature as it is stored (quantized): the clean
// model and the patched one on each generator family of the condition (strengths drawn over the
// trained range, seeds of their own), and on the clean images, where the patch must not hurt.
import { familiesOf } from '../../core/corruptions/index.js';
import { drawCondition } from '../../core/corruptions/mixture.js';
import { createRandom, mixSeed } from '../../core/random.js';
import type { Signature } from '../../core/signature.js';
import { batchDims, countCorrect } from '../../core/tensors.js';
import type { OnnxModel } from '../onnx/model.js';
import type { InputSpec } from '../packs/pack.js';
import { Patcher } from '../runtime/patcher.js';
import { batchInput, type TrainingImages } from './train-data.js';

/** Top-1 of the clean model and of the patched one on one set of held-back images. */
export interface Pair {
  clean: number;
  patched: number;
}

/** The measure stored in a trained signature's `effect`. */
export interface HeldBackEffect {
  /** Held-back images (never trained on). */
  images: number;
  /** `labels`: accuracy against the data's labels; `clean-model`: agreement with the clean model's top class on the clean image. */
  against: 'labels' | 'clean-model';
  /** The condition's trained families together (every strength in the trained range). */
  corrupted: Pair;
  /** Each family of the condition; `leftOut` for those trained without (leave-one-family-out). */
  families: Record<string, Pair & { lineage: string; leftOut?: boolean }>;
  /** The left-out families together, when any were left out: the honest figure. */
  leftOut?: Pair & { lineages: string[] };
  /** Clean images: unpatched, and patched (a patch must not hurt where nothing is wrong). */
  cleanImages: Pair;
}

export interface MeasureOptions {
  condition: string;
  id: string;
  spec: InputSpec;
  inputName: string;
  outputName: string;
  classes: number;
  /** Lineages (or family ids) left out of training. */
  exclude: readonly string[];
  strength: [number, number];
  seed: number;
  /** The right class of each held-back image. */
  truth: readonly number[];
  against: HeldBackEffect['against'];
  threads?: number;
  onProgress?: (done: number, total: number) => void;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Measures `signature` (as stored) on the held-back images `held` of `data`. */
export async function measureHeldBack(model: OnnxModel, signature: Signature, data: TrainingImages, held: readonly number[], opts: MeasureOptions): Promise<HeldBackEffect> {
  const patcher = await Patcher.create(model, new Map([[opts.id, signature]]), { inputName: opts.inputName, outputName: opts.outputName, threads: opts.threads, device: 'cpu' });
  const fixed = model.maxBatch();
  const batch = fixed ?? 64;
  const families = familiesOf(opts.condition);
  const out = new Set(opts.exclude);
  const sets = [undefined, ...families];
  const total = sets.length * held.length;
  let done = 0;
  /** Hits of the clean and the patched model with images corrupted by `family` (none: clean). */
  const score = async (familyIndex: number): Promise<Pair> => {
    const family = sets[familyIndex];
    const hits = { clean: 0, patched: 0 };
    for (let start = 0; start < held.length; start += batch) {
      const idx = held.slice(start, start + batch);
      const input = await batchInput(data, idx, opts.spec, (j) =>
        family ? drawCondition(opts.condition, createRandom(mixSeed(opts.seed, 9, familyIndex, start + j)), { only: [family.id], strength: opts.strength }) : undefined,
      fixed ?? idx.length);
      const dims = batchDims(opts.spec, fixed ?? idx.length);
      for (const mix of ['clean', 'patched'] as const) {
        await patcher.setMix(mix === 'clean' ? {} : { [opts.id]: 1 });
        const scores = await patcher.run(input, dims);
        hits[mix] += countCorrect(scores.subarray(0, idx.length * opts.classes), opts.truth, opts.classes, start);
      }
      done += idx.length;
      opts.onProgress?.(done, total);
    }
    return { clean: hits.clean / held.length, patched: hits.patched / held.length };
  };
  try {
    const cleanImages = await score(0);
    const perFamily: HeldBackEffect['families'] = {};
    for (let k = 1; k < sets.length; k++) {
      const f = sets[k]!;
      const leftOut = out.has(f.lineage) || out.has(f.id);
      perFamily[f.id] = { ...(await score(k)), lineage: f.lineage, ...(leftOut ? { leftOut } : {}) };
    }
    const entries = Object.values(perFamily);
    const trained = entries.filter((e) => !e.leftOut);
    const left = entries.filter((e) => e.leftOut);
    const effect: HeldBackEffect = {
      images: held.length,
      against: opts.against,
      corrupted: { clean: mean(trained.map((e) => e.clean)), patched: mean(trained.map((e) => e.patched)) },
      families: perFamily,
      cleanImages,
    };
    if (left.length) effect.leftOut = { clean: mean(left.map((e) => e.clean)), patched: mean(left.map((e) => e.patched)), lineages: [...new Set(left.map((e) => e.lineage))] };
    return effect;
  } finally {
    await patcher.dispose();
  }
}
