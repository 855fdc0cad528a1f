import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FolderResultRow } from '../../../main/api/contract.js';
import { classCounts, DEFAULT_QUERY, evenSample, mixCounts, queryResults, RowSet, ShownResults, type ResultQuery } from '../../../renderer/src/lib/results.js';

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

  it('keeps rows in file order and their class and mix counts over any batches, a file sent again replacing its row', () => {
    const rowArb = fc.record({ file: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), index: fc.integer({ min: 0, max: 3 }), mix: fc.option(fc.constantFrom('off', 'fog=1')) });
    fc.assert(
      fc.property(fc.array(fc.array(rowArb, { maxLength: 5 }), { maxLength: 6 }), fc.array(rowArb, { maxLength: 4 }), (batches, start) => {
        const set = new RowSet();
        const latest = new Map<string, FolderResultRow>();
        const first = start.map((r) => row(r.file, r.index, 0.5, r.mix ?? undefined));
        for (const r of first) latest.set(r.file, r);
        let shown: readonly FolderResultRow[] = [...latest.values()].sort((a, b) => (a.file < b.file ? -1 : 1));
        set.reset(shown);
        for (const b of batches) {
          const incoming = b.map((r) => row(r.file, r.index, 0.5, r.mix ?? undefined));
          for (const r of incoming) latest.set(r.file, r);
          shown = set.merge(incoming);
        }
        const want = [...latest.values()].sort((a, b) => (a.file < b.file ? -1 : 1));
        expect(shown).toEqual(want);
        expect(set.classCounts()).toEqual(classCounts(want));
        expect(set.mixCounts()).toEqual(mixCounts(want));
      }),
    );
  });

  it('keeps the shown rows of any query as queryResults gives them while batches arrive, going on from the last answer where it can', () => {
    const rowArb = fc.record({ file: fc.string({ minLength: 1, maxLength: 3 }), index: fc.integer({ min: 0, max: 3 }), score: fc.constantFrom(0.1, 0.5, 0.5, 0.9), mix: fc.constantFrom('off', 'fog=1') });
    const queryArb = fc.record({
      sort: fc.constantFrom<ResultQuery['sort']>('file', 'label', 'score'),
      descending: fc.boolean(),
      classIndex: fc.option(fc.integer({ min: 0, max: 3 })),
      minScore: fc.constantFrom(0, 0.3),
      maxScore: fc.constantFrom(1, 0.7),
      text: fc.constantFrom('', 'a'),
      mix: fc.option(fc.constantFrom('off', 'fog=1')),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.array(rowArb, { maxLength: 6 }), fc.option(queryArb, { freq: 3 })), { maxLength: 8 }), queryArb, (steps, first) => {
        const set = new RowSet();
        const shown = new ShownResults();
        let q: ResultQuery = first;
        let rows: readonly FolderResultRow[] = set.merge([]);
        expect(shown.of(rows, q, set.growth)).toEqual(queryResults(rows, q));
        for (const [batch, next] of steps) {
          rows = set.merge(batch.map((r) => row(r.file, r.index, r.score, r.mix)));
          if (next) q = next;
          expect(shown.of(rows, q, set.growth).map((r) => r.file)).toEqual(queryResults(rows, q).map((r) => r.file));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('puts a batch of new files into a sorted answer without sorting the rows shown before', () => {
    const set = new RowSet();
    const shown = new ShownResults();
    const q = { ...DEFAULT_QUERY, sort: 'score' as const };
    const before = shown.of(set.merge(rows), q, set.growth);
    // Every sort of an array or of packed keys records its length.
    const sort = Array.prototype.sort;
    const sortPacked = Float64Array.prototype.sort;
    const sorted: number[] = [];
    Array.prototype.sort = function (this: unknown[], ...args: Parameters<typeof sort>) {
      sorted.push(this.length);
      return sort.apply(this, args) as never;
    } as typeof sort;
    Float64Array.prototype.sort = function (this: Float64Array, ...args: Parameters<typeof sortPacked>) {
      sorted.push(this.length);
      return sortPacked.apply(this, args);
    };
    try {
      const after = shown.of(set.merge([row('b2.png', 0, 0.5), row('a2.png', 0, 0.95)]), q, set.growth);
      expect(after.map((r) => r.file)).toEqual(['a.png', 'b2.png', 'c.png', 'b.png', 'a2.png', 'd/e.png']);
      expect(before.map((r) => r.file)).toEqual(['a.png', 'c.png', 'b.png', 'd/e.png']);
    } finally {
      Array.prototype.sort = sort;
      Float64Array.prototype.sort = sortPacked;
    }
    // Only the two new rows were sorted (in RowSet and in ShownResults), never the whole list.
    expect(sorted.length).toBeGreaterThan(0);
    expect(sorted.every((n) => n <= 2)).toBe(true);
  });

  it('samples evenly', () => {
    expect(evenSample([1, 2, 3], 5)).toEqual([1, 2, 3]);
    expect(evenSample(Array.from({ length: 100 }, (_, i) => i), 4)).toEqual([12, 37, 62, 87]);
  });
});
