// Following the weather over a stream without flicker: an exponential moving average of each
// condition's probability, and hysteresis on top of it. A new condition is adopted only when its
// average beats the current one's by a clear margin for `hold` frames in a row; the clean model is
// where the tracker starts, and where it falls back when nothing is clearly recognised.

/** Tuning of a `ConditionTracker`; the defaults settle on a steady new condition in about 5 frames. */
export interface TrackerOptions {
  /** Weight of one frame in the moving average. */
  rate: number;
  /** A challenger's average must exceed the current condition's by this much... */
  margin: number;
  /** ...and be at least this sure... */
  minConfidence: number;
  /** ...for this many frames in a row (a batch counts as its number of images). */
  hold: number;
  /** Below this average the current (non-clean) condition is considered lost: clean takes over after `hold` frames. */
  dropBelow: number;
}

export const DEFAULT_TRACKER: TrackerOptions = { rate: 0.3, margin: 0.2, minConfidence: 0.5, hold: 3, dropBelow: 0.25 };

/** The tracker's state after one observation. */
export interface TrackedCondition {
  /** The condition in use (`clean` for the clean model). */
  id: string;
  /** Its moving-average probability. */
  confidence: number;
  /** Its moving-average expected severity (0 for clean). */
  severity: number;
  /** True when this observation changed `id`. */
  switched: boolean;
}

/** EMA + hysteresis over per-frame condition probabilities. */
export class ConditionTracker {
  private readonly opts: TrackerOptions;
  private avg = new Map<string, number>([['clean', 1]]);
  private sev = new Map<string, number>();
  private currentId = 'clean';
  private challenger = '';
  private streak = 0;

  constructor(opts: Partial<TrackerOptions> = {}) {
    this.opts = { ...DEFAULT_TRACKER, ...opts };
  }

  /** The condition in use now. */
  get current(): string {
    return this.currentId;
  }

  /** Moving-average probability of every condition seen so far. */
  averages(): Record<string, number> {
    return Object.fromEntries(this.avg);
  }

  /** Back to the clean model with no history. */
  reset(): void {
    this.avg = new Map([['clean', 1]]);
    this.sev.clear();
    this.currentId = 'clean';
    this.challenger = '';
    this.streak = 0;
  }

  /**
   * Feeds one observation: each condition's probability (summing to 1) and expected severity,
   * standing for `frames` images (a batch's mean moves the average as far as its images would).
   */
  update(probs: ReadonlyMap<string, number>, severity: ReadonlyMap<string, number>, frames = 1): TrackedCondition {
    const o = this.opts;
    const w = 1 - (1 - o.rate) ** Math.max(1, frames);
    for (const id of probs.keys()) if (!this.avg.has(id)) this.avg.set(id, 0);
    for (const id of this.avg.keys()) {
      const p = probs.get(id) ?? 0;
      this.avg.set(id, (1 - w) * (this.avg.get(id) ?? 0) + w * p);
      const s = severity.get(id);
      if (s !== undefined && p > 0) {
        // Severity moves in proportion to how much of this observation is that condition.
        const prev = this.sev.get(id);
        const ws = Math.min(1, (w * p) / Math.max(this.avg.get(id)!, 1e-9));
        this.sev.set(id, prev === undefined ? s : (1 - ws) * prev + ws * s);
      }
    }

    let best = 'clean';
    let bestP = -1;
    for (const [id, p] of this.avg) if (p > bestP) [best, bestP] = [id, p];
    const cur = this.avg.get(this.currentId) ?? 0;

    let want = this.currentId;
    if (best !== this.currentId && bestP - cur >= o.margin && (best === 'clean' || bestP >= o.minConfidence)) want = best;
    else if (this.currentId !== 'clean' && cur < o.dropBelow) want = best !== this.currentId && bestP >= o.minConfidence ? best : 'clean';

    let switched = false;
    if (want === this.currentId) {
      this.challenger = '';
      this.streak = 0;
    } else {
      this.streak = want === this.challenger ? this.streak + Math.max(1, frames) : Math.max(1, frames);
      this.challenger = want;
      if (this.streak >= o.hold) {
        this.currentId = want;
        this.challenger = '';
        this.streak = 0;
        switched = true;
      }
    }
    return {
      id: this.currentId,
      confidence: this.avg.get(this.currentId) ?? 0,
      severity: this.currentId === 'clean' ? 0 : (this.sev.get(this.currentId) ?? 0),
      switched,
    };
  }
}
