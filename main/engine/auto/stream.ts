// `--mix auto` on a stream (a camera): a bandit over the candidate mixes that changes the mix only on
// evidence. Every frame runs under the current mix (that is what the user sees). Now and then
// (every `explorePeriod` frames) one other candidate also runs on the same frame, and the pair of
// outputs is kept; when the pack's condition classifier (if it has one) recognises a new condition,
// or an explored candidate does better on its first frame, that candidate is paired on every frame
// until it has been judged. A challenger takes over only
// when, on at least `pairs` paired frames, the model's own outputs (main/core/auto-check.ts) score it
// above the current mix by `margin`: a steady scene never flickers, a harmful patch is never taken,
// and the clean model is a candidate like any other (Auto abstains by going back to it).
// Neither the challenger's run nor the classifier is on the frame's critical path: `frame` returns
// the frame's result under the current mix and leaves the check (and the classifier's look at the
// frame) pending; `explore` runs them in the time a camera leaves between frames (~33 ms; the check is
// one inference and two mix changes, and a mix change is what it costs: tens of ms where the patcher
// makes a session per mix), and the next frame runs them first if nobody did. A proposal of the
// classifier is paired from the next frame; a switch so decided acts from the next frame, which
// reports it.
import { OutputTally } from '../../core/auto-check.js';
import type { Image } from '../../core/corruptions/image.js';
import { mixKey } from '../../core/mix.js';
import type { ConditionMix } from '../../core/signature.js';
import type { AutoCandidate, AutoChoice, AutoRun, MixRunner } from './choice.js';
import type { AutoMix } from './mix.js';
import { certainty } from './sample-commit.js';

/** Tuning of `StreamAuto`. */
export interface StreamOptions {
  /** One exploring run every this many frames: the exploration cost is 1/explorePeriod of an inference per frame. */
  explorePeriod: number;
  /** Paired frames a challenger needs before it can take over. */
  pairs: number;
  /** Score (nats) a challenger must gain over the current mix on its paired frames. */
  margin: number;
  /** Paired frames kept per challenger (the most recent). */
  window: number;
  /** Frames after which a pair is forgotten (the scene may have changed). */
  maxAge: number;
  /** Frames a classifier proposal that failed its check is not proposed again. */
  cooldown: number;
}

export const STREAM_DEFAULTS: StreamOptions = { explorePeriod: 25, pairs: 4, margin: 0.1, window: 8, maxAge: 300, cooldown: 150 };

interface Pair {
  frame: number;
  current: Float32Array;
  challenger: Float32Array;
}

/** A challenger to run on a frame already shown: the frame, and its outputs under the current mix. */
interface PendingCheck {
  frame: number;
  cand: AutoCandidate;
  input: Float32Array;
  dims: number[];
  current: Float32Array;
}

/** The bandit over a stream's frames. */
export class StreamAuto {
  private readonly opts: StreamOptions;
  private readonly all: AutoCandidate[];
  private current: AutoCandidate;
  private frameNo = 0;
  private explored = 0;
  private pairs = new Map<string, Pair[]>();
  private urgent: string | undefined;
  private readonly cooling = new Map<string, number>();
  private lastLead = 0;
  private lastImages = 0;
  private pending: PendingCheck | undefined;
  /** The last frame's images, for the classifier to look at in `explore`. */
  private unseen: { frame: number; images: readonly Image[] } | undefined;
  private severity = 0;
  /** A check switched the mix after the last frame: the next frame is the first under it. */
  private switchedSince = false;

  constructor(
    private readonly runner: MixRunner,
    candidates: readonly AutoCandidate[],
    private readonly classes: number,
    private readonly kind: 'logits' | 'probabilities',
    private readonly recogniser?: AutoMix,
    opts: Partial<StreamOptions> = {},
  ) {
    this.opts = { ...STREAM_DEFAULTS, ...opts };
    const keys = new Set<string>(['off']);
    this.all = [{ id: 'clean', mix: {} }];
    for (const c of candidates) {
      const k = mixKey(c.mix);
      if (!keys.has(k)) (keys.add(k), this.all.push(c));
    }
    this.current = this.all[0]!;
  }

  /** The candidates, the clean model first. */
  get candidates(): readonly AutoCandidate[] {
    return this.all;
  }

  /** Back to the clean model with no evidence. */
  reset(): void {
    this.current = this.all[0]!;
    this.pairs.clear();
    this.urgent = undefined;
    this.cooling.clear();
    this.frameNo = 0;
    this.pending = undefined;
    this.unseen = undefined;
    this.severity = 0;
    this.switchedSince = false;
    this.recogniser?.reset();
  }

  /**
   * One frame (a batch of one, batch-first `dims`; `images` gives the frame as 0..1 images for the
   * classifier, when there is one): its scores under the mix in force, and that mix. A check of a
   * challenger on this frame, and the classifier's look at it, are left pending for `explore`: a copy
   * of the input is kept, and the images `images` returns are kept as they are (they must not change
   * until then; `imagesFromInput` makes new ones).
   */
  async frame(input: Float32Array, dims: number[], images?: () => readonly Image[]): Promise<AutoRun> {
    await this.explore();
    const f = this.frameNo++;
    if (this.recogniser && images) {
      const list = images();
      if (list.length) this.unseen = { frame: f, images: list };
    }
    await this.runner.setMix(this.current.mix);
    const scores = await this.runner.run(input, dims);
    const challenger = this.urgent ?? (f % this.opts.explorePeriod === this.opts.explorePeriod - 1 ? this.nextToExplore() : undefined);
    if (challenger) {
      this.pending = { frame: f, cand: this.all.find((c) => c.id === challenger)!, input: input.slice(), dims: [...dims], current: scores.slice() };
    }
    const switched = this.switchedSince;
    this.switchedSince = false;
    const choice: AutoChoice = {
      mix: { ...this.current.mix },
      id: this.current.id,
      severity: this.current.id === 'clean' ? 0 : Math.round(this.severity * 10) / 10,
      confidence: this.current.id === 'clean' && this.lastImages === 0 ? 1 : certainty(this.lastLead, this.lastImages),
      switched,
      evidence: { gain: this.lastLead, images: this.lastImages, abstained: false },
    };
    return { scores, choices: [choice] };
  }

  /**
   * Runs what the last frame left pending: the classifier's look at it (a proposal is paired from the
   * next frame) and the check of a challenger, if any. Leaves the runner on the mix in force: the mix
   * it switched to when the check decided a switch (the next frame runs under it).
   */
  async explore(): Promise<ConditionMix | undefined> {
    const seen = this.unseen;
    this.unseen = undefined;
    if (seen) this.recognise(seen.frame, seen.images);
    const p = this.pending;
    if (!p) return undefined;
    this.pending = undefined;
    const { frame: f, cand } = p;
    await this.runner.setMix(cand.mix);
    const other = await this.runner.run(p.input, p.dims);
    const list = (this.pairs.get(cand.id) ?? []).filter((q) => f - q.frame <= this.opts.maxAge);
    list.push({ frame: f, current: p.current, challenger: other.slice() });
    this.pairs.set(cand.id, list.slice(-this.opts.window));
    if (this.judge(cand, f)) {
      this.switchedSince = true;
      return { ...cand.mix };
    }
    // A challenger that looks better on its first pair is paired on every frame until judged.
    if (!this.urgent && this.pairGain(p.current, other) >= this.opts.margin && (this.cooling.get(cand.id) ?? -Infinity) <= f) this.urgent = cand.id;
    await this.runner.setMix(this.current.mix);
    return undefined;
  }

  /** The classifier's look at frame `f`: a condition it recognises other than the mix in force becomes urgent. */
  private recognise(f: number, images: readonly Image[]): void {
    const t = this.recogniser!.observe(images);
    this.severity = t.severity;
    const cand = this.all.find((c) => (c.condition ?? c.id) === t.id);
    if (cand && cand !== this.current && !this.urgent && (this.cooling.get(cand.id) ?? -Infinity) <= f) this.urgent = cand.id;
  }

  /** Takes `cand` over when its paired frames say so; ends an urgent check that has had its frames. */
  private judge(cand: AutoCandidate, f: number): boolean {
    const list = this.pairs.get(cand.id)!;
    if (list.length < this.opts.pairs) return false;
    const cur = new OutputTally(this.classes);
    const ch = new OutputTally(this.classes);
    for (const p of list) {
      cur.add(p.current, this.kind);
      ch.add(p.challenger, this.kind);
    }
    const gain = ch.check().score - cur.check().score;
    if (this.urgent === cand.id) {
      this.urgent = undefined;
      if (gain < this.opts.margin) this.cooling.set(cand.id, f + this.opts.cooldown);
    }
    if (gain < this.opts.margin) return false;
    this.current = cand;
    this.pairs.clear();
    this.lastLead = gain;
    this.lastImages = list.length;
    return true;
  }

  /** One frame's score gain of the challenger over the current mix. */
  private pairGain(current: Float32Array, challenger: Float32Array): number {
    const a = new OutputTally(this.classes);
    const b = new OutputTally(this.classes);
    a.add(current, this.kind);
    b.add(challenger, this.kind);
    return b.check().score - a.check().score;
  }

  /** The next candidate to pair with the current mix, in turn (the classifier's proposals jump the queue as urgent). */
  private nextToExplore(): string | undefined {
    const others = this.all.filter((c) => c !== this.current);
    if (!others.length) return undefined;
    return others[this.explored++ % others.length]!.id;
  }
}
