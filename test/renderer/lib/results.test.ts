import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FolderResultRow } from '../../../main/api/contract.js';
import { classCounts, DEFAULT_QUERY, evenSample, mixCounts, queryResults, RowSet, type ResultQuery } from '../../../renderer/src/lib/results.js';

const row = (file: string, index: number, score: number, mix?: string): FolderResultRow => ({ file, path: `/in/${file}`, top: [{ index, label: `c${index}`, score }], ...(mix ? { mix } : {}) });
/** In file order, as RowSet and getFolderResults give them. */
const rows = [row('a.png', 2, 0.4, 'fog=1'), row('b.png', 1, 0.9, 'off'), row('c.png', 1, 0.6, 'fog=1'), row('d/e.png', 0, 0.99, 'fog=1')];

/** The order the query asks for, by a plain comparator: what the fast sort must equal. */
function reference(list: readonly FolderResultRow[], q: ResultQuery): string[] {
  const byFile = (a: FolderResultRow, b: FolderResultRow) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  const key = (r: FolderResultRow) => (q.sort === 'score' ? Math.round(r.top[0]!.score * 1e6) : 0);
  const sorted = list
    .filter((r) => (q.classIndex === null || r.top[0]!.index === q.classIndex) && r.top[0]!.score >= q.minScore && (q.mix === null || (r.mix ?? 'off') === q.mix))
    .sort((a, b) => (q.sort === 'label' ? a.top[0]!.label.localeCompare(b.top[0]!.label) : key(a) - key(b)) || byFile(a, b));
  return (q.descending ? sorted.reverse() : sorted).map((r) => r.file);
}

describe('results table', () => {
  it('keeps file order by default, and sorts by confidence descending and by label', () => {
    expect(queryResults(rows, DEFAULT_QUERY).map((r) => r.file)).toEqual(['a.png', 'b.png', 'c.png', 'd/e.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, sort: 'score', descending: true }).map((r) => r.file)).toEqual(['d/e.png', 'b.png', 'c.png', 'a.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, sort: 'label' }).map((r) => r.top[0]!.label)).toEqual(['c0', 'c1', 'c1', 'c2']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, descending: true }).map((r) => r.file)).toEqual(['d/e.png', 'c.png', 'b.png', 'a.png']);
  });

  it('sorts as a plain comparator sort does, ties in file order, for any rows and query', () => {
    const rowArb = fc.record({ file: fc.string({ minLength: 1, maxLength: 6 }), index: fc.integer({ min: 0, max: 4 }), score: fc.double({ min: 0, max: 1, noNaN: true }), mix: fc.constantFrom('off', 'fog=1') });
    fc.assert(
      fc.property(fc.uniqueArray(rowArb, { selector: (r) => r.file, maxLength: 40 }), fc.constantFrom<ResultQuery['sort']>('file', 'label', 'score'), fc.boolean(), fc.option(fc.constantFrom('off', 'fog=1')), (list, sort, descending, mix) => {
        const set = new RowSet();
        const ordered = set.merge(list.map((r) => row(r.file, r.index, r.score, r.mix)));
        const q = { ...DEFAULT_QUERY, sort, descending, mix };
        expect(queryResults(ordered, q).map((r) => r.file)).toEqual(reference(ordered, q));
      }),
    );
  });

  it('filters by class, confidence, file name and mix, and counts classes and mixes', () => {
    expect(queryResults(rows, { ...DEFAULT_QUERY, classIndex: 1 }).map((r) => r.file)).toEqual(['b.png', 'c.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, minScore: 0.65 }).map((r) => r.file)).toEqual(['b.png', 'd/e.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, text: 'D/' }).map((r) => r.file)).toEqual(['d/e.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, mix: 'off' }).map((r) => r.file)).toEqual(['b.png']);
    expect(classCounts(rows)).toEqual(new Map([[1, 2], [2, 1], [0, 1]]));
    expect(mixCounts(rows)).toEqual([['fog=1', 3], ['off', 1]]);
    expect(mixCounts([row('x', 1, 0.5)])).toEqual([]);
  });

  it('merges arriving rows into file order, replacing a file sent twice (resume), each merge a new array', () => {
    const set = new RowSet();
    set.reset(rows.slice(0, 2));
    const first = set.merge([row('z.png', 4, 0.7), row('a.png', 3, 0.5)]);
    expect(first.map((r) => [r.file, r.top[0]!.index])).toEqual([['a.png', 3], ['b.png', 1], ['z.png', 4]]);
    const second = set.merge([row('z.png', 5, 0.8), row('c.png', 1, 0.6)]);
    expect(second).not.toBe(first);
    expect(first.map((r) => r.file)).toEqual(['a.png', 'b.png', 'z.png']);
    expect(second.map((r) => [r.file, r.top[0]!.index])).toEqual([['a.png', 3], ['b.png', 1], ['c.png', 1], ['z.png', 5]]);
    // A reset (a full read, or a new run) starts from its rows, forgetting the earlier ones.
    set.reset([]);
    expect(set.merge([row('a.png', 2, 0.4)]).map((r) => r.file)).toEqual(['a.png']);
  });

  it('samples evenly', () => {
    expect(evenSample([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(evenSample(Array.from({ length: 100 }, (_, i) => i), 4)).toEqual([12, 37, 62, 87]);
  });
});
