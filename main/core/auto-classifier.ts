// The auto condition classifier: multinomial logistic regression from the condition features to
// (condition, severity) classes. Small enough to store in pack.json, fast enough for every frame,
// and trainable in pure TypeScript in seconds, so the recipe needs no extra tool.
import { RwsError } from './errors.js';
import { createRandom } from './random.js';

/** One class of the classifier: a condition id (or `clean`, severity 0) at one severity. */
export interface ConditionClass {
  condition: string;
  severity: number;
}

/** A trained classifier, as stored in a pack's `autoMix.classifier`. */
export interface ConditionClassifier {
  /** The feature set it was trained on (`FEATURES_VERSION`). */
  features: string;
  classes: ConditionClass[];
  /** Per-feature standardisation. */
  mean: number[];
  std: number[];
  /** classes × features, row-major. */
  weights: number[];
  bias: number[];
}

/** What the classifier makes of one image (or the mean over a batch). */
export interface ConditionEstimate {
  /** Probability of each class, in `classes` order. */
  probs: Float64Array;
  /** Probability of each condition (severities summed), `clean` included. */
  conditions: Map<string, number>;
  /** Expected severity of each condition given that condition. */
  severity: Map<string, number>;
}

/** Checks a classifier's shapes; errors name the field. */
export function checkClassifier(c: ConditionClassifier, featureCount: number, where = 'autoMix.classifier'): void {
  const nc = c.classes.length;
  const bad = (field: string, msg: string): never => {
    throw new RwsError('auto-classifier', `${where}.${field}: ${msg}`, { field: `${where}.${field}` });
  };
  if (nc < 1) bad('classes', 'no classes');
  if (c.mean.length !== featureCount) bad('mean', `${c.mean.length} values, the features have ${featureCount}`);
  if (c.std.length !== featureCount) bad('std', `${c.std.length} values, the features have ${featureCount}`);
  if (c.weights.length !== nc * featureCount) bad('weights', `${c.weights.length} values, expected ${nc}×${featureCount}`);
  if (c.bias.length !== nc) bad('bias', `${c.bias.length} values, expected ${nc}`);
}

/** Class probabilities of one feature vector. */
export function classProbabilities(c: ConditionClassifier, x: ArrayLike<number>): Float64Array {
  const f = c.mean.length;
  const z = new Float64Array(f);
  for (let j = 0; j < f; j++) z[j] = (x[j]! - c.mean[j]!) / c.std[j]!;
  const nc = c.classes.length;
  const logits = new Float64Array(nc);
  let top = -Infinity;
  for (let k = 0; k < nc; k++) {
    let s = c.bias[k]!;
    const row = k * f;
    for (let j = 0; j < f; j++) s += c.weights[row + j]! * z[j]!;
    logits[k] = s;
    if (s > top) top = s;
  }
  let sum = 0;
  for (let k = 0; k < nc; k++) sum += logits[k] = Math.exp(logits[k]! - top);
  for (let k = 0; k < nc; k++) logits[k]! /= sum;
  return logits;
}

/** Sums class probabilities per condition and gives each condition's expected severity. */
export function summarize(c: ConditionClassifier, probs: Float64Array): ConditionEstimate {
  const conditions = new Map<string, number>();
  const weighted = new Map<string, number>();
  c.classes.forEach((cl, k) => {
    conditions.set(cl.condition, (conditions.get(cl.condition) ?? 0) + probs[k]!);
    weighted.set(cl.condition, (weighted.get(cl.condition) ?? 0) + probs[k]! * cl.severity);
  });
  const severity = new Map<string, number>();
  for (const [id, p] of conditions) severity.set(id, p > 0 ? weighted.get(id)! / p : 0);
  return { probs, conditions, severity };
}

/** The estimate for a batch: class probabilities averaged over its feature vectors. */
export function estimate(c: ConditionClassifier, xs: readonly ArrayLike<number>[]): ConditionEstimate {
  const acc = new Float64Array(c.classes.length);
  for (const x of xs) {
    const p = classProbabilities(c, x);
    for (let k = 0; k < acc.length; k++) acc[k]! += p[k]!;
  }
  if (xs.length) for (let k = 0; k < acc.length; k++) acc[k]! /= xs.length;
  return summarize(c, acc);
}

/** Options of `trainClassifier`. */
export interface TrainOptions {
  epochs?: number;
  /** L2 penalty on the weights. */
  l2?: number;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
}

/**
 * Fits the classifier by minibatch Adam on the cross-entropy: `xs` feature vectors, `ys` indices
 * into `classes`.
 */
export function trainClassifier(
  xs: readonly Float32Array[],
  ys: readonly number[],
  classes: ConditionClass[],
  featuresVersion: string,
  opts: TrainOptions = {},
): ConditionClassifier {
  const n = xs.length;
  if (n === 0 || ys.length !== n) throw new RwsError('auto-train', `training set: ${n} feature vectors for ${ys.length} labels`);
  const f = xs[0]!.length;
  const nc = classes.length;
  const epochs = opts.epochs ?? 60;
  const l2 = opts.l2 ?? 1e-4;
  const lr = opts.learningRate ?? 0.02;
  const bsz = opts.batchSize ?? 256;
  const rng = createRandom(opts.seed ?? 1);

  const mean = new Array<number>(f).fill(0);
  const std = new Array<number>(f).fill(0);
  for (const x of xs) for (let j = 0; j < f; j++) mean[j]! += x[j]! / n;
  for (const x of xs) for (let j = 0; j < f; j++) std[j]! += (x[j]! - mean[j]!) ** 2 / n;
  for (let j = 0; j < f; j++) std[j] = Math.sqrt(std[j]!) || 1;
  const Z = xs.map((x) => {
    const z = new Float64Array(f);
    for (let j = 0; j < f; j++) z[j] = (x[j]! - mean[j]!) / std[j]!;
    return z;
  });

  const P = nc * f + nc; // weights then biases
  const theta = new Float64Array(P);
  const g = new Float64Array(P);
  const m1 = new Float64Array(P);
  const m2 = new Float64Array(P);
  const order = Array.from({ length: n }, (_, i) => i);
  const logits = new Float64Array(nc);
  let t = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    // Cosine decay keeps the last epochs from bouncing around the optimum.
    const rate = lr * 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs));
    for (let start = 0; start < n; start += bsz) {
      const end = Math.min(n, start + bsz);
      g.fill(0);
      for (let b = start; b < end; b++) {
        const z = Z[order[b]!]!;
        const y = ys[order[b]!]!;
        let top = -Infinity;
        for (let k = 0; k < nc; k++) {
          let s = theta[nc * f + k]!;
          for (let j = 0; j < f; j++) s += theta[k * f + j]! * z[j]!;
          logits[k] = s;
          if (s > top) top = s;
        }
        let sum = 0;
        for (let k = 0; k < nc; k++) sum += logits[k] = Math.exp(logits[k]! - top);
        for (let k = 0; k < nc; k++) {
          const d = logits[k]! / sum - (k === y ? 1 : 0);
          for (let j = 0; j < f; j++) g[k * f + j]! += d * z[j]!;
          g[nc * f + k]! += d;
        }
      }
      const m = end - start;
      t++;
      for (let p = 0; p < P; p++) {
        const gp = g[p]! / m + (p < nc * f ? l2 * theta[p]! : 0);
        m1[p] = 0.9 * m1[p]! + 0.1 * gp;
        m2[p] = 0.999 * m2[p]! + 0.001 * gp * gp;
        const mh = m1[p]! / (1 - 0.9 ** t);
        const vh = m2[p]! / (1 - 0.999 ** t);
        theta[p]! -= (rate * mh) / (Math.sqrt(vh) + 1e-8);
      }
    }
  }
  const round = (v: number): number => Number(v.toPrecision(6));
  return {
    features: featuresVersion,
    classes,
    mean: mean.map(round),
    std: std.map(round),
    weights: Array.from(theta.subarray(0, nc * f), round),
    bias: Array.from(theta.subarray(nc * f), round),
  };
}
