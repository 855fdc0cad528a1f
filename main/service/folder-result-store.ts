import type { ConditionMix, FolderResultRow, Prediction } from '../api/contract.js';
import { ranUnderKey } from '../core/mix.js';

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** A slot with no mix recorded (a run with a fixed mix). */
const NO_MIX = 0xffff;

/**
 * A folder run's results, compact: per image its name and the top-k class indices and scores in
 * typed arrays (62 bytes an image at k = 5, plus its name, against ~1 KB as objects); labels and
 * paths are rebuilt when a row is read. Rows are read in file order (code-unit order, as `rws run`
 * sorts them).
 */
export class FolderResultStore {
  private files: string[] = [];
  private counts = new Uint16Array(0);
  private indices = new Int32Array(0);
  private scores = new Float64Array(0);
  /** Paths that `pathOf` would not give (rare: inputs of the same name); by slot. */
  private readonly oddPaths = new Map<number, string>();
  /** Slots in file order, for the first `orderedUpTo` slots; the rest are merged in on the next read. */
  private order = new Uint32Array(0);
  private orderedUpTo = 0;
  private widest = 0;
  /** In an Auto run: each distinct mix (or hedge of two) once, and per slot its index (NO_MIX when the run has none). */
  private readonly mixes: { key: string; mix: ConditionMix; blend?: ConditionMix }[] = [];
  private mixOf = new Uint16Array(0);

  constructor(
    /** Most classes kept per image. */
    readonly k: number,
    private readonly labels: readonly string[],
    private readonly pathOf: (file: string) => string,
  ) {}

  get count(): number {
    return this.files.length;
  }

  /** Most classes any row has (the CSV's column count). */
  get topWidth(): number {
    return this.widest;
  }

  /**
   * Add one result; `path` is kept only when it differs from the one rebuilt from the file; `mix`, in
   * an Auto run, the file's mix, and `blend` the second mix of a hedge.
   */
  add(file: string, top: readonly Prediction[], path?: string, mix?: ConditionMix, blend?: ConditionMix): void {
    const slot = this.files.length;
    if (slot === this.counts.length) this.grow(Math.max(1024, slot * 2));
    if (mix) {
      const key = ranUnderKey(mix, blend);
      let m = this.mixes.findIndex((x) => x.key === key);
      if (m < 0) m = this.mixes.push({ key, mix: { ...mix }, ...(blend ? { blend: { ...blend } } : {}) }) - 1;
      this.mixOf[slot] = m;
    } else {
      this.mixOf[slot] = NO_MIX;
    }
    const n = Math.min(top.length, this.k);
    for (let i = 0; i < n; i++) {
      this.indices[slot * this.k + i] = top[i]!.index;
      this.scores[slot * this.k + i] = top[i]!.score;
    }
    this.counts[slot] = n;
    if (n > this.widest) this.widest = n;
    this.files.push(file);
    if (path !== undefined && path !== this.pathOf(file)) this.oddPaths.set(slot, path);
  }

  private grow(capacity: number): void {
    const counts = new Uint16Array(capacity);
    counts.set(this.counts);
    const indices = new Int32Array(capacity * this.k);
    indices.set(this.indices);
    const scores = new Float64Array(capacity * this.k);
    scores.set(this.scores);
    const mixOf = new Uint16Array(capacity);
    mixOf.set(this.mixOf);
    this.mixOf = mixOf;
    this.counts = counts;
    this.indices = indices;
    this.scores = scores;
  }

  /** Slots in file order: the new ones sorted among themselves, then merged into the order so far. */
  private sortedSlots(): Uint32Array {
    const n = this.files.length;
    if (this.orderedUpTo === n) return this.order;
    const files = this.files;
    const fresh = Array.from({ length: n - this.orderedUpTo }, (_, i) => this.orderedUpTo + i).sort((a, b) => byName(files[a]!, files[b]!));
    const merged = new Uint32Array(n);
    let i = 0;
    let j = 0;
    for (let o = 0; o < n; o++) {
      // Ties cannot happen (one row per file); `<=` keeps the earlier rows first anyway.
      if (j >= fresh.length || (i < this.orderedUpTo && byName(files[this.order[i]!]!, files[fresh[j]!]!) <= 0)) merged[o] = this.order[i++]!;
      else merged[o] = fresh[j++]!;
    }
    this.order = merged;
    this.orderedUpTo = n;
    return merged;
  }

  private top(slot: number): Prediction[] {
    const out: Prediction[] = [];
    for (let i = 0; i < this.counts[slot]!; i++) {
      const index = this.indices[slot * this.k + i]!;
      out.push({ index, label: this.labels[index] ?? String(index), score: this.scores[slot * this.k + i]! });
    }
    return out;
  }

  private row(slot: number): FolderResultRow {
    const file = this.files[slot]!;
    const m = this.mixOf[slot]!;
    return { file, path: this.oddPaths.get(slot) ?? this.pathOf(file), top: this.top(slot), ...(m !== NO_MIX ? { mix: this.mixes[m]!.key } : {}) };
  }

  /** The rows added from slot `from` on, in the order they were added. */
  rowsAdded(from: number): FolderResultRow[] {
    const out: FolderResultRow[] = [];
    for (let slot = from; slot < this.files.length; slot++) out.push(this.row(slot));
    return out;
  }

  /** Rows `offset`..`offset + limit` in file order. */
  page(offset: number, limit: number): FolderResultRow[] {
    const order = this.sortedSlots();
    const out: FolderResultRow[] = [];
    for (let i = offset; i < Math.min(order.length, offset + limit); i++) out.push(this.row(order[i]!));
    return out;
  }

  /** The rows there are now, in file order, each built as it is read (for streamed exports); later adds are not in it. */
  sorted(): { count: number; rows: Iterable<{ file: string; top: Prediction[]; mix?: ConditionMix; blend?: ConditionMix }> } {
    const order = this.sortedSlots();
    const rows = function* (this: FolderResultStore) {
      for (let i = 0; i < order.length; i++) {
        const slot = order[i]!;
        const m = this.mixOf[slot]!;
        const x = m !== NO_MIX ? this.mixes[m]! : undefined;
        yield { file: this.files[slot]!, top: this.top(slot), ...(x ? { mix: x.mix } : {}), ...(x?.blend ? { blend: x.blend } : {}) };
      }
    }.call(this);
    return { count: order.length, rows };
  }
}
