import { RwsError } from './errors.js';

/**
 * Small pure helpers on model inputs and outputs, shared by every caller: the batch shape of an
 * input, 0..1 → byte rounding, argmax and top-1 accuracy, and the k best classes of a row.
 */

/** What the batch shape needs of a model's input. */
export interface InputLayout {
  layout: 'NCHW' | 'NHWC';
  channels: number;
  height: number;
  width: number;
}

/** The input tensor's dimensions for `n` images. */
export function batchDims(spec: InputLayout, n: number): number[] {
  return spec.layout === 'NCHW' ? [n, spec.channels, spec.height, spec.width] : [n, spec.height, spec.width, spec.channels];
}

/** Values in one image of the input tensor. */
export function imageSize(spec: InputLayout): number {
  return spec.width * spec.height * spec.channels;
}

/** A 0..1 value as the byte an 8-bit image stores (clamped, rounded to nearest). */
export function unitToByte(v: number): number {
  return Math.round(Math.min(1, Math.max(0, v)) * 255);
}

/** 0..1 values as bytes, the path every decoded file takes, so simulated and saved images classify alike. */
export function unitToBytes(data: ArrayLike<number>): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < out.length; i++) out[i] = unitToByte(data[i]!);
  return out;
}

/** Index of the highest score in row `row` of a `classes`-wide score matrix (the first on ties); a non-finite score is refused as in `topClasses`. */
export function argmaxRow(scores: ArrayLike<number>, row: number, classes: number): number {
  let best = 0;
  for (let k = 0; k < classes; k++) {
    const v = scores[row * classes + k]!;
    if (!Number.isFinite(v)) throw nonFinite(v, k, undefined);
    if (v > scores[row * classes + best]!) best = k;
  }
  return best;
}

function nonFinite(v: number, index: number, labels: string[] | undefined): RwsError {
  return new RwsError(
    'non-finite-score',
    `the model gave ${v} as the score of class ${index}${labels?.[index] !== undefined ? ` ("${labels[index]}")` : ''}: its weights or its input are out of range (a signature too strong for this model, or the pack's mean/std)`,
    { field: 'scores' },
  );
}

/** How many rows of `scores` put their top score on the label; row i is compared with `labels[offset + i]`. */
export function countCorrect(scores: ArrayLike<number>, labels: ArrayLike<number>, classes: number, offset = 0): number {
  let right = 0;
  const rows = Math.floor(scores.length / classes);
  for (let i = 0; i < rows; i++) if (argmaxRow(scores, i, classes) === labels[offset + i]) right++;
  return right;
}

/** One of the k best classes of a row; `score` is a softmax probability. */
export interface TopClass {
  index: number;
  label: string;
  score: number;
}

/** Row `row` of a `classes`-wide score matrix as probabilities: softmax of logits, probabilities renormalised. */
export function rowProbabilities(scores: ArrayLike<number>, row: number, classes: number, kind: 'logits' | 'probabilities'): Float64Array {
  const probs = new Float64Array(classes);
  const base = row * classes;
  let sum = 0;
  if (kind === 'logits') {
    let max = -Infinity;
    for (let i = 0; i < classes; i++) max = Math.max(max, scores[base + i]!);
    for (let i = 0; i < classes; i++) sum += probs[i] = Math.exp(scores[base + i]! - max);
  } else {
    for (let i = 0; i < classes; i++) sum += probs[i] = Math.max(0, scores[base + i]!);
  }
  for (let i = 0; i < classes; i++) probs[i] = sum > 0 ? probs[i]! / sum : 1 / classes;
  return probs;
}

/**
 * The `k` best classes of one row of scores, as softmax probabilities when the row holds logits.
 * A score that is not finite is never a result: it is refused (RwsError `non-finite-score`), naming the class.
 */
export function topClasses(row: Float32Array, labels: string[], k: number, kind: 'logits' | 'probabilities'): TopClass[] {
  const bad = row.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw nonFinite(row[bad]!, bad, labels);
  const probs = kind === 'logits' ? rowProbabilities(row, 0, row.length, kind) : Float64Array.from(row);
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return order.slice(0, k).map((index) => ({ index, label: labels[index] ?? String(index), score: probs[index]! }));
}
