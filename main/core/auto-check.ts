// Auto's label-free check: what the model's own outputs say about a candidate mix on some images.
// A patch that fits the images makes the model both sure of each image (low prediction entropy)
// and still tell images apart (a spread-out mean prediction); a patch that does not fit leaves it
// unsure, and a harmful one either scrambles it (high entropy) or collapses every image onto a
// few classes (low entropy but a narrow mean prediction). The score is their difference, the
// mutual information between image and predicted class (information maximisation, as in SHOT:
// Liang et al., ICML 2020); on very few images the mean prediction says little, so it counts in
// proportion to how many there are.

/** Images from which the mean prediction counts fully in the score. */
export const FULL_MARGINAL_IMAGES = 32;

/** What a candidate's outputs on some images say, without labels. */
export interface OutputCheck {
  images: number;
  /** Mean prediction entropy, nats. */
  entropy: number;
  /** Mean top-class probability. */
  confidence: number;
  /** Entropy of the mean prediction, nats. */
  marginal: number;
  /** marginal·w − entropy, w = min(1, images / FULL_MARGINAL_IMAGES): higher is better. */
  score: number;
}

/** Images whose predicted class a tally keeps, for `disagreement` (a sample is at most a few hundred). */
export const KEPT_PREDICTIONS = 4096;

/** Accumulates a candidate's outputs over batches. */
export class OutputTally {
  private n = 0;
  /** The predicted class of each of the first KEPT_PREDICTIONS images. */
  private readonly predicted: number[] = [];
  private entropySum = 0;
  private confidenceSum = 0;
  private probSum: Float64Array;

  constructor(readonly classes: number) {
    this.probSum = new Float64Array(classes);
  }

  /** Adds `scores` (rows of `classes` values; softmax is applied to logits). */
  add(scores: ArrayLike<number>, kind: 'logits' | 'probabilities'): void {
    const k = this.classes;
    const rows = Math.floor(scores.length / k);
    const p = new Float64Array(k);
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      if (kind === 'logits') {
        let top = -Infinity;
        for (let j = 0; j < k; j++) top = Math.max(top, scores[r * k + j]!);
        for (let j = 0; j < k; j++) sum += p[j] = Math.exp(scores[r * k + j]! - top);
      } else {
        for (let j = 0; j < k; j++) sum += p[j] = Math.max(0, scores[r * k + j]!);
      }
      let h = 0;
      let best = 0;
      let arg = 0;
      for (let j = 0; j < k; j++) {
        const q = sum > 0 ? p[j]! / sum : 1 / k;
        if (q > 0) h -= q * Math.log(q);
        if (q > best) [best, arg] = [q, j];
        this.probSum[j]! += q;
      }
      if (this.predicted.length < KEPT_PREDICTIONS) this.predicted.push(arg);
      this.entropySum += h;
      this.confidenceSum += best;
      this.n++;
    }
  }

  get images(): number {
    return this.n;
  }

  /** The predicted class of image `i` (in the order added), if kept. */
  prediction(i: number): number | undefined {
    return this.predicted[i];
  }

  /** The check so far (an empty tally scores −∞). */
  check(): OutputCheck {
    const n = this.n;
    if (n === 0) return { images: 0, entropy: NaN, confidence: NaN, marginal: NaN, score: -Infinity };
    let marginal = 0;
    for (const s of this.probSum) {
      const q = s / n;
      if (q > 0) marginal -= q * Math.log(q);
    }
    const entropy = this.entropySum / n;
    return { images: n, entropy, confidence: this.confidenceSum / n, marginal, score: marginalWeight(n) * marginal - entropy };
  }
}

/**
 * The share of images two candidates classify differently, over the images both tallies kept (the
 * same images, in the same order). It bounds how far apart their accuracies can be, labels unseen.
 */
export function disagreement(a: OutputTally, b: OutputTally): number {
  const n = Math.min(a.images, b.images, KEPT_PREDICTIONS);
  if (n === 0) return 0;
  let differ = 0;
  for (let i = 0; i < n; i++) if (a.prediction(i) !== b.prediction(i)) differ++;
  return differ / n;
}

/** How much the mean prediction counts on `n` images. */
export function marginalWeight(n: number): number {
  return Math.min(1, n / FULL_MARGINAL_IMAGES);
}

/** One candidate's check, as `choose` weighs it. */
export interface CandidateCheck<T> {
  id: string;
  value: T;
  check: OutputCheck;
}

/** What `choose` decided, and why. */
export interface CheckedChoice<T> {
  id: string;
  value: T;
  /** The winner's score minus the clean model's (0 when the clean model is kept). */
  gain: number;
  /** The chosen candidate's score minus the best other one's: negative when it abstained. */
  lead: number;
  /** True when a candidate scored best but not by `margin`: the clean model is kept. */
  abstained: boolean;
}

/**
 * The candidate whose outputs score best, if it beats the clean model (`cleanId`) by `margin`;
 * otherwise the clean model: Auto never patches on weak evidence.
 */
export function choose<T>(checks: readonly CandidateCheck<T>[], cleanId: string, margin: number): CheckedChoice<T> {
  const clean = checks.find((c) => c.id === cleanId);
  if (!clean) throw new Error(`choose: no "${cleanId}" candidate`);
  let best = clean;
  for (const c of checks) if (c.check.score > best.check.score) best = c;
  const gain = best.check.score - clean.check.score;
  const lead = (chosen: CandidateCheck<T>) => chosen.check.score - Math.max(...checks.filter((c) => c !== chosen).map((c) => c.check.score));
  if (best !== clean && gain < margin) return { id: clean.id, value: clean.value, gain: 0, lead: lead(clean), abstained: true };
  return { id: best.id, value: best.value, gain: best === clean ? 0 : gain, lead: checks.length > 1 ? lead(best) : Infinity, abstained: false };
}

/**
 * The margin a candidate must beat the clean model by on `n` images: `margin` up to
 * FULL_MARGINAL_IMAGES, then shrinking as 1/√n, as the noise of a score averaged over n images does.
 */
export function marginAt(margin: number, n: number): number {
  return margin * Math.sqrt(FULL_MARGINAL_IMAGES / Math.max(n, FULL_MARGINAL_IMAGES));
}

/** A choice on the images so far, and whether it is settled (no more images need be scored). */
export interface Verdict<T> {
  choice: CheckedChoice<T>;
  settled: boolean;
  /** Settled because the winner leads clearly (not merely because `maxImages` were scored). */
  clear: boolean;
  /** The best of the other candidates (the clean model included), by score. */
  second?: CandidateCheck<T>;
  /** `second` is a patch that itself beats the clean model by the margin, as any patch Auto takes must. */
  secondAhead: boolean;
}

/**
 * Sequential sample-then-commit: on `n` images the choice (by `choose` at `marginAt(margin, n)`) is
 * settled once it is clear, i.e. the winner leads every other candidate (the clean model included) by
 * twice that margin, or once `n` reaches `maxImages`; otherwise more images should be scored. Clear
 * cases settle on the first images; close ones (a patch that helps a little, two patches nearly
 * alike) get up to `maxImages` before the margin decides.
 */
export function verdict<T>(checks: readonly CandidateCheck<T>[], cleanId: string, margin: number, maxImages: number): Verdict<T> {
  const n = Math.max(0, ...checks.map((c) => c.check.images));
  const m = marginAt(margin, n);
  const choice = choose(checks, cleanId, m);
  // Clear: the winner (a patch, or the clean model) leads every other candidate by twice the margin; a
  // patch that beats the clean model but not another patch by as much samples on, to choose between them.
  const clear = !choice.abstained && choice.lead >= 2 * m;
  let second: CandidateCheck<T> | undefined;
  for (const c of checks) if (c.id !== choice.id && (!second || c.check.score > second.check.score)) second = c;
  const clean = checks.find((c) => c.id === cleanId)!;
  const secondAhead = second !== undefined && second !== clean && second.check.score - clean.check.score >= m;
  return { choice, settled: clear || n >= maxImages, clear, ...(second ? { second } : {}), secondAhead };
}
