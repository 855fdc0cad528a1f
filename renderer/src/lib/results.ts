// Sorting and filtering of folder-run results for the table and the gallery; pure so it is tested
// in Node. Rows are kept in file order as they arrive (RowSet), so the default order costs nothing
// and the other orders sort numbers, not objects: a 50,000-image run stays responsive while its
// results stream in.
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
  const text = q.text.trim().toLowerCase();
  const filtering = q.classIndex !== null || q.minScore > 0 || q.maxScore < 1 || text !== '' || q.mix !== null;
  // The rows as they are (file order, nothing left out): no copy of a large run's list.
  if (!filtering && q.sort === 'file' && !q.descending) return rows;
  const kept = !filtering
    ? rows.slice()
    : rows.filter((r) => {
        const top = r.top[0];
        if (q.classIndex !== null && top?.index !== q.classIndex) return false;
        const s = top?.score ?? 0;
        if (s < q.minScore || s > q.maxScore) return false;
        if (q.mix !== null && (r.mix ?? 'off') !== q.mix) return false;
        return !text || r.file.toLowerCase().includes(text);
      });
  if (q.sort === 'file') return q.descending ? kept.reverse() : kept;
  let key: (r: FolderResultRow) => number;
  if (q.sort === 'score') key = (r) => Math.round((r.top[0]?.score ?? 0) * 1e6);
  else {
    // Labels ranked once (there are few), then each row by its top class's rank.
    const seen = new Set<string>();
    for (const r of kept) seen.add(r.top[0]?.label ?? '');
    const rank = new Map([...seen].sort((a, b) => a.localeCompare(b)).map((l, i) => [l, i]));
    key = (r) => rank.get(r.top[0]?.label ?? '')!;
  }
  if (kept.length >= POSITION_BITS) {
    const sorted = kept.slice().sort((a, b) => key(a) - key(b) || byFile(a, b));
    return q.descending ? sorted.reverse() : sorted;
  }
  // One typed-array sort of numbers instead of a comparator over objects.
  const packed = new Float64Array(kept.length);
  for (let i = 0; i < kept.length; i++) packed[i] = key(kept[i]!) * POSITION_BITS + i;
  packed.sort();
  const out = Array.from(packed, (v) => kept[v % POSITION_BITS]!);
  return q.descending ? out.reverse() : out;
}

/** Count of top-1 predictions per class index, for the class filter's labels. */
export function classCounts(rows: readonly FolderResultRow[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of rows) {
    const i = r.top[0]?.index;
    if (i !== undefined) m.set(i, (m.get(i) ?? 0) + 1);
  }
  return m;
}

/** Files per mix in an Auto run (mix text, `off` for the clean model), most used first; empty for a run with one mix. */
export function mixCounts(rows: readonly FolderResultRow[]): [string, number][] {
  const m = new Map<string, number>();
  for (const r of rows) if (r.mix !== undefined) m.set(r.mix, (m.get(r.mix) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** `count` rows spread evenly over `rows` (the sample a clean-vs-patched comparison looks at). */
export function evenSample<T>(rows: readonly T[], count: number): T[] {
  if (rows.length <= count) return rows.slice();
  return Array.from({ length: count }, (_, i) => rows[Math.floor(((i + 0.5) * rows.length) / count)]!);
}

/**
 * The rows of a run as they arrive, kept in file order: a batch costs its own sort and one merge
 * pass, and gives a new array, as Svelte's raw state wants. A file sent again (resume) replaces its row.
 */
export class RowSet {
  private rows: readonly FolderResultRow[] = [];

  /** Start again from these rows (in file order, as getFolderResults pages give them). */
  reset(rows: readonly FolderResultRow[]): void {
    this.rows = rows;
  }

  merge(incoming: readonly FolderResultRow[]): FolderResultRow[] {
    const batch = [...new Map(incoming.map((r) => [r.file, r])).values()].sort(byFile);
    const old = this.rows;
    const out: FolderResultRow[] = new Array(old.length + batch.length);
    let i = 0;
    let j = 0;
    let o = 0;
    while (i < old.length || j < batch.length) {
      if (j >= batch.length || (i < old.length && old[i]!.file < batch[j]!.file)) out[o++] = old[i++]!;
      else if (i < old.length && old[i]!.file === batch[j]!.file) {
        out[o++] = batch[j++]!;
        i++;
      } else out[o++] = batch[j++]!;
    }
    out.length = o;
    this.rows = out;
    return out;
  }
}
