// The ways `--mix auto` runs over a run's batches, each keeping what it learnt between them.
import { choose, OutputTally } from '../../core/auto-check.js';
import type { Image } from '../../core/corruptions/image.js';
import { mixKey } from '../../core/mix.js';
import type { ConditionMix } from '../../core/signature.js';
import type { AutoCandidate, AutoChoice, AutoRun, MixRunner } from './choice.js';
import type { AutoMix } from './mix.js';
import { certainty, SampleCommit, SAMPLE_COMMIT_DEFAULTS, type SampleCommitOptions, type SampleListing } from './sample-commit.js';
import { StreamAuto, type StreamOptions } from './stream.js';

/**
 * How `--mix auto` applies to a run: `folder` samples the first images of each chunk of the run
 * under every candidate and commits to the best (sample-commit.ts); `batch` decides so for each
 * batch on its own; `file` for each image on its own (every candidate runs on every image);
 * `stream` follows a sequence of frames (stream.ts).
 */
export type AutoScope = 'folder' | 'batch' | 'file' | 'stream';

/** What runs batches with `--mix auto`, keeping what it learnt between them. */
export interface AutoChooser {
  readonly candidates: readonly AutoCandidate[];
  /**
   * One batch; `images` gives the frame as 0..1 images (streams' classifier, which may look at them
   * after `run` returns, so they must not change), `files` each image's path (folders).
   */
  run(input: Float32Array, dims: number[], images?: () => Image[], files?: readonly string[]): Promise<AutoRun>;
  /**
   * `stream`: runs the check the last frame left pending (off the frame's critical path: call it
   * after showing the frame; the next `run` does it first otherwise). Resolves to the mix it
   * switched to, if it did.
   */
  explore?(): Promise<ConditionMix | undefined>;
  /** `folder`: decide each folder chunk on its first images of the whole listing (see `SampleCommit.plan`). */
  plan?<F extends { rel: string }>(listing: SampleListing<F>): void;
}

/** What a chooser needs besides the runner and the candidates. */
export interface ChooserOptions {
  classes: number;
  kind: 'logits' | 'probabilities';
  /** The pack's condition classifier, for streams (optional). */
  recogniser?: AutoMix;
  sample?: SampleCommitOptions;
  stream?: Partial<StreamOptions>;
}

/** The chooser for a scope. */
export function createChooser(scope: AutoScope, runner: MixRunner, candidates: readonly AutoCandidate[], opts: ChooserOptions): AutoChooser {
  if (scope === 'stream') {
    const s = new StreamAuto(runner, candidates, opts.classes, opts.kind, opts.recogniser, opts.stream);
    return { candidates: s.candidates, run: (input, dims, images) => s.frame(input, dims, images), explore: () => s.explore() };
  }
  if (scope === 'file') return new PerImageChooser(runner, candidates, opts.classes, opts.kind, opts.sample?.margin);
  const sc = new SampleCommit(runner, candidates, opts.classes, opts.kind, scope === 'batch' ? { ...opts.sample, sample: 1, maxSample: 1, chunk: 1 } : opts.sample);
  return {
    candidates: sc.candidates,
    run: (input, dims, _images, files) => sc.run(input, dims, scope === 'folder' ? files : undefined),
    ...(scope === 'folder' ? { plan: (listing) => sc.plan(listing) } : {}),
  };
}

/**
 * Each image on its own: every candidate runs on every image; an image takes the candidate its own
 * outputs favour, among those the run's outputs so far support (a score over all images seen at
 * least the clean model's). One image cannot tell a patch that fits from one that collapses every
 * image onto a class; the whole run can.
 */
class PerImageChooser implements AutoChooser {
  readonly candidates: AutoCandidate[];
  private readonly tallies: OutputTally[];
  constructor(
    private readonly runner: MixRunner,
    candidates: readonly AutoCandidate[],
    private readonly classes: number,
    private readonly kind: 'logits' | 'probabilities',
    private readonly margin = SAMPLE_COMMIT_DEFAULTS.margin,
  ) {
    const keys = new Set(['off']);
    this.candidates = [{ id: 'clean', mix: {} }];
    for (const c of candidates) if (!keys.has(mixKey(c.mix))) (keys.add(mixKey(c.mix)), this.candidates.push(c));
    this.tallies = this.candidates.map(() => new OutputTally(classes));
  }

  async run(input: Float32Array, dims: number[]): Promise<AutoRun> {
    const n = dims[0]!;
    const k = this.classes;
    const outs: Float32Array[] = [];
    for (const [j, c] of this.candidates.entries()) {
      await this.runner.setMix(c.mix);
      const out = await this.runner.run(input, dims);
      outs.push(out);
      this.tallies[j]!.add(out, this.kind);
    }
    const run = this.tallies.map((t) => t.check().score);
    const supported = this.candidates.map((_, j) => j === 0 || run[j]! >= run[0]!);
    const scores = new Float32Array(n * k);
    const choices: AutoChoice[] = [];
    for (let i = 0; i < n; i++) {
      const checks = this.candidates.flatMap((c, j) => {
        if (!supported[j]) return [];
        const t = new OutputTally(k);
        t.add(outs[j]!.subarray(i * k, (i + 1) * k), this.kind);
        return [{ id: c.id, value: j, check: t.check() }];
      });
      const pick = choose(checks, 'clean', this.margin);
      scores.set(outs[pick.value]!.subarray(i * k, (i + 1) * k), i * k);
      choices.push({ mix: { ...this.candidates[pick.value]!.mix }, id: pick.id, severity: 0, confidence: certainty(pick.lead, 1), switched: false, evidence: { gain: pick.gain, images: 1, abstained: pick.abstained } });
    }
    return { scores, choices };
  }
}
