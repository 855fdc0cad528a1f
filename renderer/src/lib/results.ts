// Sorting and filtering of folder-run results for the table and the gallery; pure so it is tested
// in Node. Rows are kept in file order as they arrive (RowSet), so the default order costs nothing,
// the other orders sort numbers, not objects, and while a run streams its results each batch is put
// into what is shown (ShownResults) instead of the whole list being filtered and sorted again: a
// 50,000-image run stays responsive in any view.
import type { FolderResultRow } from '../../../main/api/contract.js';

export type SortKey = 'file' | 'label' | 'score';
export interface ResultQuery {
  sort: SortKey;
  descending: boolean;
  /** Top-1 class index to keep, or null for all. */
  classIndex: number | null;
  /** Keep rows whose top-1 score is within [min, max]. */
  minScore: number;
  maxScore: number;
  /** Case-insensitive substring of the file name. */
  text: string;
  /** In an Auto run: keep the rows that ran under this mix (mix text, `off` for the clean model), or null for all. */
  mix: string | null;
}

export const DEFAULT_QUERY: ResultQuery = { sort: 'file', descending: false, classIndex: null, minScore: 0, maxScore: 1, text: '', mix: null };

const byFile = (a: FolderResultRow, b: FolderResultRow) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** Rows packed into one sortable number each: the key above the position (file order breaks ties). */
const POSITION_BITS = 2 ** 21;

/**
 * Rows matching the query's filters, in its order (ties broken by file, so the order is stable).
 * `rows` must be in file order, as RowSet and getFolderResults give them.
 */
export function queryResults(rows: readonly FolderResultRow[], q: ResultQuery): readonly FolderResultRow[] {
  return ordered(rows, q).shown;
}

/** The test of the query's filters, or null when it keeps every row. */
function filterOf(q: ResultQuery): ((r: FolderResultRow) => boolean) | null {
  const text = q.text.trim().toLowerCase();
  if (q.classIndex === null && q.minScore <= 0 && q.maxScore >= 1 && text === '' && q.mix === null) return null;
  return (r) => {
    const top = r.top[0];
    if (q.classIndex !== null && top?.index !== q.classIndex) return false;
    const s = top?.score ?? 0;
    if (s < q.minScore || s > q.maxScore) return false;
    if (q.mix !== null && (r.mix ?? 'off') !== q.mix) return false;
    return !text || r.file.toLowerCase().includes(text);
  };
}

/** What a row sorts by before its file: its score, or its label's rank among the labels ranked. */
function sortKeyOf(q: ResultQuery, rank: ReadonlyMap<string, number>): (r: FolderResultRow) => number {
  if (q.sort === 'score') return (r) => Math.round((r.top[0]?.score ?? 0) * 1e6);
  if (q.sort === 'label') return (r) => rank.get(r.top[0]?.label ?? '')!;
  return () => 0;
}

/** The query's answer, with the label ranks it sorted by (for ShownResults to go on from). */
function ordered(rows: readonly FolderResultRow[], q: ResultQuery): { shown: readonly FolderResultRow[]; rank: ReadonlyMap<string, number> } {
  const filter = filterOf(q);
  const rank = new Map<string, number>();
  // The rows as they are (file order, nothing left out): no copy of a large run's list.
  if (!filter && q.sort === 'file' && !q.descending) return { shown: rows, rank };
  const kept = !filter ? rows.slice() : rows.filter(filter);
  if (q.sort === 'file') return { shown: q.descending ? kept.reverse() : kept, rank };
  if (q.sort === 'label') {
    // Labels ranked once (there are few), then each row by its top class's rank.
    const seen = new Set<string>();
    for (const r of kept) seen.add(r.top[0]?.label ?? '');
    [...seen].sort((a, b) => a.localeCompare(b)).forEach((l, i) => rank.set(l, i));
  }
  const key = sortKeyOf(q, rank);
  if (kept.length >= POSITION_BITS) {
    const sorted = kept.slice().sort((a, b) => key(a) - key(b) || byFile(a, b));
    return { shown: q.descending ? sorted.reverse() : sorted, rank };
  }
  // One typed-array sort of numbers instead of a comparator over objects.
  const packed = new Float64Array(kept.length);
  for (let i = 0; i < kept.length; i++) packed[i] = key(kept[i]!) * POSITION_BITS + i;
  packed.sort();
  const out = Array.from(packed, (v) => kept[v % POSITION_BITS]!);
  return { shown: q.descending ? out.reverse() : out, rank };
}

/** What one RowSet merge did: `to` is `from` with `added` (new files only, in file order) put in. */
export interface RowsGrowth {
  from: readonly FolderResultRow[];
  to: readonly FolderResultRow[];
  added: readonly FolderResultRow[];
}

/**
 * queryResults kept up to date while a run's rows arrive. When the rows grew by one merge of new
 * files since the last answer and the query is the same, the new rows are filtered and merged into
 * that answer (mergeSorted: no filter or sort of the whole list, which sorted by confidence or
 * filtered to a class made the page's tasks 60-90 ms per batch on a 50,000-image run); anything
 * else (another query, a replaced row, a full read, a label not ranked yet) asks queryResults again.
 */
export class ShownResults {
  private rows: readonly FolderResultRow[] | null = null;
  private query = '';
  private shown: readonly FolderResultRow[] = [];
  private rank: ReadonlyMap<string, number> = new Map();

  of(rows: readonly FolderResultRow[], q: ResultQuery, growth: RowsGrowth | null): readonly FolderResultRow[] {
    const query = JSON.stringify(q);
    if (query === this.query && rows === this.rows) return this.shown;
    const grown = query === this.query && growth !== null && growth.from === this.rows && growth.to === rows ? this.grow(growth.added, q) : null;
    if (grown) this.shown = grown;
    else ({ shown: this.shown, rank: this.rank } = ordered(rows, q));
    this.rows = rows;
    this.query = query;
    return this.shown;
  }

  /** The last answer with `added` put in, or null where it must be computed again. */
  private grow(added: readonly FolderResultRow[], q: ResultQuery): readonly FolderResultRow[] | null {
    const filter = filterOf(q);
    if (!filter && q.sort === 'file' && !q.descending) return null;
    const kept = filter ? added.filter(filter) : added.slice();
    if (q.sort === 'label' && kept.some((r) => !this.rank.has(r.top[0]?.label ?? ''))) return null;
    const key = sortKeyOf(q, this.rank);
    const up = (a: FolderResultRow, b: FolderResultRow) => key(a) - key(b) || byFile(a, b);
    const cmp = q.descending ? (a: FolderResultRow, b: FolderResultRow) => up(b, a) : up;
    if (kept.length === 0) return this.shown;
    return mergeSorted(this.shown, kept.sort(cmp), cmp);
  }
}

/**
 * `old` and `batch`, both sorted by `cmp`, as one new sorted array. Each batch row finds its place
 * by a binary search, and the old rows between two places are copied without a comparison: a few
 * hundred rows go into 50,000 with thousands of comparisons, not 50,000 (rows of equal confidence
 * compare their file names, and the page did that for every row of every batch).
 */
function mergeSorted<T>(old: readonly T[], batch: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const out = new Array<T>(old.length + batch.length);
  let i = 0;
  let o = 0;
  for (const b of batch) {
    // The first old row not before b, at or after the last one's place.
    let lo = i;
    let hi = old.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(old[mid]!, b) < 0) lo = mid + 1;
      else hi = mid;
    }
    while (i < lo) out[o++] = old[i++]!;
    out[o++] = b;
  }
  while (i < old.length) out[o++] = old[i++]!;
  return out;
}

/** Count of top-1 predictions per class index, for the class filter's labels. */
export function classCounts(rows: readonly FolderResultRow[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of rows) tally(m, r.top[0]?.index, 1);
  return m;
}

/** Files per mix in an Auto run (mix text, `off` for the clean model), most used first; empty for a run with one mix. */
export function mixCounts(rows: readonly FolderResultRow[]): [string, number][] {
  const m = new Map<string, number>();
  for (const r of rows) tally(m, r.mix, 1);
  return byUse(m);
}

function tally<K>(m: Map<K, number>, key: K | undefined, by: number): void {
  if (key === undefined) return;
  const n = (m.get(key) ?? 0) + by;
  if (n === 0) m.delete(key);
  else m.set(key, n);
}

const byUse = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));

/** `count` rows spread evenly over `rows` (the sample a clean-vs-patched comparison looks at). */
export function evenSample<T>(rows: readonly T[], count: number): T[] {
  if (rows.length <= count) return rows.slice();
  return Array.from({ length: count }, (_, i) => rows[Math.floor(((i + 0.5) * rows.length) / count)]!);
}

/**
 * The rows of a run as they arrive, kept in file order with their class and mix counts: a batch
 * costs its own sort and one merge (mergeSorted), and gives a new array, as Svelte's raw state
 * wants. The counts follow each batch instead of being counted again over every row, so a
 * 50,000-image run's page does not go through its whole list twice a second. A file sent again
 * (resume) replaces its row.
 */
export class RowSet {
  private rows: readonly FolderResultRow[] = [];
  private byFile = new Map<string, FolderResultRow>();
  private classes = new Map<number, number>();
  private mixes = new Map<string, number>();
  /** What the last merge did, for ShownResults; null after a reset or a merge that replaced rows. */
  growth: RowsGrowth | null = null;

  /** Start again from these rows (in file order, as getFolderResults pages give them). */
  reset(rows: readonly FolderResultRow[]): void {
    this.rows = rows;
    this.byFile = new Map(rows.map((r) => [r.file, r]));
    this.classes = classCounts(rows);
    this.mixes = new Map(mixCounts(rows));
    this.growth = null;
  }

  /** Top-1 predictions per class index (a new map each call, for raw state). */
  classCounts(): Map<number, number> {
    return new Map(this.classes);
  }

  /** As mixCounts of the rows. */
  mixCounts(): [string, number][] {
    return byUse(this.mixes);
  }

  merge(incoming: readonly FolderResultRow[]): FolderResultRow[] {
    const batch = [...new Map(incoming.map((r) => [r.file, r])).values()];
    const added: FolderResultRow[] = [];
    const replaced = new Map<string, FolderResultRow>();
    for (const r of batch) {
      const was = this.byFile.get(r.file);
      if (was) {
        this.count(was, -1);
        replaced.set(r.file, r);
      } else added.push(r);
      this.count(r, 1);
      this.byFile.set(r.file, r);
    }
    const from = replaced.size ? this.rows.map((r) => replaced.get(r.file) ?? r) : this.rows;
    const out = mergeSorted(from, added.sort(byFile), byFile);
    this.growth = replaced.size ? null : { from: this.rows, to: out, added };
    this.rows = out;
    return out;
  }

  private count(r: FolderResultRow, by: number): void {
    tally(this.classes, r.top[0]?.index, by);
    tally(this.mixes, r.mix, by);
  }
}
