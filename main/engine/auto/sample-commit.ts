// `--mix auto` over a folder: sample, then commit. The first images of each chunk of the run are
// classified under every candidate mix (the clean model included); the model's own outputs score
// each candidate without labels (main/core/auto-check.ts), and once the sample is large enough the
// best one, if it beats the clean model by a margin, is used for the rest of the chunk. Images in
// the sample get the choice the sample so far supports, from outputs already computed, so the
// sample costs only the other candidates' runs. No classifier is needed, so the choice holds on
// weather made by any implementation; a new chunk samples again, following a folder whose
// conditions change along its paths (a camera's day).
import { choose, OutputTally, type CandidateCheck, type OutputCheck } from '../../core/auto-check.js';
import { mixKey } from '../../core/mix.js';
import type { ConditionMix } from '../../core/signature.js';
import type { AutoCandidate, AutoChoice, AutoRun, MixRunner } from './choice.js';

/** Tuning of `SampleCommit`. */
export interface SampleCommitOptions {
  /** Images scored under every candidate before the choice is committed. */
  sample?: number;
  /** Images per chunk: each chunk samples anew. */
  chunk?: number;
  /** Score a candidate must gain over the clean model (nats) to be chosen. */
  margin?: number;
}

export const SAMPLE_COMMIT_DEFAULTS: Required<SampleCommitOptions> = { sample: 48, chunk: 2048, margin: 0.05 };

/** A candidate with its outputs' check on the sample, as `rws run --mix auto` reports it. */
export interface SampleReport {
  chunk: number;
  images: number;
  chosen: string;
  abstained: boolean;
  checks: { id: string; check: OutputCheck }[];
}

/** Sample-then-commit over a run's images in the order they come. */
export class SampleCommit {
  private readonly opts: Required<SampleCommitOptions>;
  private readonly all: AutoCandidate[];
  private seen = 0;
  private chunkStart = 0;
  private tallies = new Map<string, OutputTally>();
  private committed: AutoChoice | undefined;
  private lastId = 'clean';
  /** One entry per chunk decided so far. */
  readonly reports: SampleReport[] = [];

  constructor(
    private readonly runner: MixRunner,
    candidates: readonly AutoCandidate[],
    private readonly classes: number,
    private readonly kind: 'logits' | 'probabilities',
    opts: SampleCommitOptions = {},
  ) {
    this.opts = { ...SAMPLE_COMMIT_DEFAULTS, ...opts };
    const seen = new Set<string>(['off']);
    this.all = [{ id: 'clean', mix: {} }];
    for (const c of candidates) {
      const key = mixKey(c.mix);
      if (seen.has(key)) continue;
      seen.add(key);
      this.all.push(c);
    }
  }

  /** The candidates it chooses among, the clean model first. */
  get candidates(): readonly AutoCandidate[] {
    return this.all;
  }

  /** Runs one batch (batch-first `dims`) with the mix the sample supports; the same mix for every image of it. */
  async run(input: Float32Array, dims: number[]): Promise<AutoRun> {
    const n = dims[0]!;
    if (this.seen - this.chunkStart >= this.opts.chunk) {
      this.chunkStart = this.seen;
      this.tallies = new Map();
      this.committed = undefined;
    }
    this.seen += n;
    if (this.committed) {
      await this.runner.setMix(this.committed.mix);
      const scores = await this.runner.run(input, dims);
      return { scores, choices: Array.from({ length: n }, () => ({ ...this.committed!, switched: false })) };
    }
    const outs = new Map<string, Float32Array>();
    for (const c of this.all) {
      await this.runner.setMix(c.mix);
      const out = await this.runner.run(input, dims);
      outs.set(c.id, out);
      let t = this.tallies.get(c.id);
      if (!t) this.tallies.set(c.id, (t = new OutputTally(this.classes)));
      t.add(out, this.kind);
    }
    const checks: CandidateCheck<ConditionMix>[] = this.all.map((c) => ({ id: c.id, value: c.mix, check: this.tallies.get(c.id)!.check() }));
    const pick = choose(checks, 'clean', this.opts.margin);
    const images = this.tallies.get('clean')!.images;
    const choice: AutoChoice = {
      mix: { ...pick.value },
      id: pick.id,
      severity: 0,
      confidence: certainty(pick.lead, images),
      switched: pick.id !== this.lastId,
      evidence: { gain: pick.gain, images, abstained: pick.abstained },
    };
    this.lastId = pick.id;
    if (images >= this.opts.sample) {
      this.committed = choice;
      this.reports.push({ chunk: this.reports.length, images, chosen: pick.id, abstained: pick.abstained, checks: checks.map((c) => ({ id: c.id, check: c.check })) });
    }
    return { scores: outs.get(pick.id)!, choices: Array.from({ length: n }, (_, i) => ({ ...choice, switched: i === 0 && choice.switched })) };
  }
}

/**
 * How sure a check-based choice is, 0..1, for the UI: its lead over the next candidate (nats per
 * image) over the images it rests on, as a logistic in lead·√n (0.5: a coin toss; abstaining, below).
 */
export function certainty(lead: number, images: number): number {
  if (images <= 0) return 0;
  if (lead === Infinity) return 1;
  return 1 / (1 + Math.exp(-4 * lead * Math.sqrt(images)));
}
