/**
 * The one definition of what an evaluation measures, used by `rws eval` (evaluate.ts) and by the
 * app's Evaluation view (service/commands/evaluate.ts): which corruptions a condition is tested
 * on, how a labelled set is corrupted (image i of corruption k always gets `mixSeed(seed, i, k)`),
 * how it is batched, and how top-1 accuracy is counted. Same pack, data and seed: same numbers.
 */
import { CONDITIONS, corrupt, type Image, type Severity } from '../../core/corruptions/index.js';
import { RwsError } from '../../core/errors.js';
import { mixSeed } from '../../core/random.js';
import type { ConditionMix } from '../../core/signature.js';
import { batchDims, countCorrect, imageSize, unitToBytes, type InputLayout } from '../../core/tensors.js';
import { toTensor } from '../io/image-decode.js';
import type { InputSpec, PackManifest } from '../packs/pack.js';

/** Images per inference call while evaluating (the model's own batch limit wins). */
export const EVAL_BATCH = 250;

const KNOWN = new Set(CONDITIONS.map((c) => c.id));

/** Order in which a mix's corruptions are applied: the light first (it is the scene), then the rest as listed. */
export function corruptionOrder(ids: string[]): string[] {
  const rank = (id: string) => (id === 'low-light' ? -1 : CONDITIONS.findIndex((c) => c.id === id));
  return [...new Set(ids)].sort((a, b) => rank(a) - rank(b));
}

/** Corruptions a signature simulates: its condition, or each part of `a+b`. */
export function corruptionsOf(condition: string): string[] {
  return condition.split('+').filter((c) => KNOWN.has(c));
}

/** A condition to evaluate: the mix that patches it and the corruptions that simulate it. */
export interface EvalTarget {
  id: string;
  name: string;
  mix: ConditionMix;
  corruptions: string[];
}

/**
 * Resolves a condition id of a pack to what is evaluated: a pack condition (its mix) or a single
 * signature (α = 1); simulated by the core corruption of that id, else by the corruptions of its
 * signatures' conditions in `corruptionOrder`. `conditionOf` gives an available signature's
 * condition (undefined when the signature is not available). `where` prefixes messages.
 */
export function evalTarget(manifest: PackManifest, id: string, conditionOf: (signature: string) => string | undefined, where: string): EvalTarget {
  const named = manifest.conditions.find((c) => c.id === id);
  const mix = named?.mix ?? (conditionOf(id) !== undefined ? { [id]: 1 } : undefined);
  if (!mix) throw new RwsError('eval-condition', `${where}: "${id}" is neither a condition nor a signature of pack "${manifest.id}"`, { field: 'conditions' });
  for (const sid of Object.keys(mix)) {
    if (conditionOf(sid) === undefined) throw new RwsError('signature-missing', `${where}: signature "${sid}" of condition "${id}" is not available`, { field: 'conditions' });
  }
  const corruptions = KNOWN.has(id) ? [id] : corruptionOrder(Object.keys(mix).flatMap((s) => corruptionsOf(conditionOf(s)!)));
  if (!corruptions.length) throw new RwsError('eval-condition', `${where}: no simulated corruption for condition "${id}"`, { field: 'conditions' });
  return { id, name: named?.name ?? id, mix, corruptions };
}

/** A labelled set prepared as model input: one tensor per batch, plus labels. */
export interface CorruptedSet {
  batches: { input: Float32Array; dims: number[] }[];
  labels: number[];
}

/** What runs a batch: a patcher, a session, a classifier in another process. */
export interface BatchRunner {
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
}

/**
 * The set with `corruptions` applied in order at `severity` (none: the clean set), rounded to
 * bytes as a decoded file is, and batched by at most `batch` images.
 */
export function corruptedSet(images: Image[], labels: number[], spec: InputSpec, corruptions: string[], severity: Severity, seed: number, batch = EVAL_BATCH): CorruptedSet {
  const per = imageSize(spec);
  const batches: CorruptedSet['batches'] = [];
  const step = Math.max(1, batch);
  for (let start = 0; start < images.length; start += step) {
    const part = images.slice(start, start + step);
    const input = new Float32Array(part.length * per);
    part.forEach((im, j) => {
      let img = im;
      corruptions.forEach((c, k) => {
        img = corrupt(img, c, severity, mixSeed(seed, start + j, k));
      });
      input.set(toTensor(unitToBytes(img.data), img.channels, spec), j * per);
    });
    batches.push({ input, dims: batchDims(spec as InputLayout, part.length) });
  }
  return { batches, labels };
}

/** The runner's scores for each batch of the set. */
export async function scoresOf(runner: BatchRunner, set: CorruptedSet): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const b of set.batches) out.push(await runner.run(b.input, b.dims));
  return out;
}

/** Top-1 accuracy of per-batch scores against the set's labels. */
export function accuracyOf(scores: Float32Array[], labels: number[], classes: number): number {
  let right = 0;
  let offset = 0;
  for (const s of scores) {
    right += countCorrect(s, labels, classes, offset);
    offset += s.length / classes;
  }
  return labels.length ? right / labels.length : 0;
}

/** Top-1 accuracy of a runner on a prepared set. */
export async function accuracy(runner: BatchRunner, set: CorruptedSet, classes: number): Promise<number> {
  return accuracyOf(await scoresOf(runner, set), set.labels, classes);
}
