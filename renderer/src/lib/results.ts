// Sorting and filtering of folder-run results for the table; pure so it is tested in Node.
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
}

export const DEFAULT_QUERY: ResultQuery = { sort: 'file', descending: false, classIndex: null, minScore: 0, maxScore: 1, text: '' };

/** Rows matching the query's filters, in its order (ties broken by file, so the order is stable). */
export function queryResults(rows: readonly FolderResultRow[], q: ResultQuery): FolderResultRow[] {
  const text = q.text.trim().toLowerCase();
  const kept = rows.filter((r) => {
    const top = r.top[0];
    if (q.classIndex !== null && top?.index !== q.classIndex) return false;
    const s = top?.score ?? 0;
    if (s < q.minScore || s > q.maxScore) return false;
    return !text || r.file.toLowerCase().includes(text);
  });
  const dir = q.descending ? -1 : 1;
  const byFile = (a: FolderResultRow, b: FolderResultRow) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  kept.sort((a, b) => {
    let c = 0;
    if (q.sort === 'label') c = (a.top[0]?.label ?? '').localeCompare(b.top[0]?.label ?? '');
    else if (q.sort === 'score') c = (a.top[0]?.score ?? 0) - (b.top[0]?.score ?? 0);
    return (c !== 0 ? c : byFile(a, b)) * dir;
  });
  return kept;
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

/**
 * The rows of a run as they arrive: merging a batch costs its own size, not the run's (an index by
 * file is kept between merges), and gives a new array, as Svelte's raw state wants.
 */
export class RowSet {
  private rows: readonly FolderResultRow[] = [];
  private index: Map<string, number> | undefined = new Map();

  /** Start again from these rows (the index is rebuilt on the next merge). */
  reset(rows: readonly FolderResultRow[]): void {
    this.rows = rows;
    this.index = rows.length ? undefined : new Map();
  }

  /** The rows with `incoming` merged in, in arrival order; a file sent again (resume) replaces its row. */
  merge(incoming: readonly FolderResultRow[]): FolderResultRow[] {
    const out = this.rows.slice();
    const index = (this.index ??= new Map(out.map((r, i) => [r.file, i])));
    for (const r of incoming) {
      const i = index.get(r.file);
      if (i === undefined) {
        index.set(r.file, out.length);
        out.push(r);
      } else out[i] = r;
    }
    this.rows = out;
    return out;
  }
}
