import { describe, expect, it } from 'vitest';
import { classCounts, DEFAULT_QUERY, queryResults, RowSet } from '../../../renderer/src/lib/results.js';

const row = (file: string, index: number, score: number) => ({ file, path: `/in/${file}`, top: [{ index, label: `c${index}`, score }] });
const rows = [row('b.png', 1, 0.9), row('a.png', 2, 0.4), row('c.png', 1, 0.6), row('d/e.png', 0, 0.99)];

describe('results table', () => {
  it('sorts by file by default, and by confidence descending', () => {
    expect(queryResults(rows, DEFAULT_QUERY).map((r) => r.file)).toEqual(['a.png', 'b.png', 'c.png', 'd/e.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, sort: 'score', descending: true }).map((r) => r.file)).toEqual(['d/e.png', 'b.png', 'c.png', 'a.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, sort: 'label' }).map((r) => r.top[0]!.label)).toEqual(['c0', 'c1', 'c1', 'c2']);
  });

  it('filters by class, confidence and file name', () => {
    expect(queryResults(rows, { ...DEFAULT_QUERY, classIndex: 1 }).map((r) => r.file)).toEqual(['b.png', 'c.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, minScore: 0.65 }).map((r) => r.file)).toEqual(['b.png', 'd/e.png']);
    expect(queryResults(rows, { ...DEFAULT_QUERY, text: 'D/' }).map((r) => r.file)).toEqual(['d/e.png']);
    expect(classCounts(rows)).toEqual(new Map([[1, 2], [2, 1], [0, 1]]));
  });

  it('merges arriving rows, replacing a file sent twice (resume), each merge a new array', () => {
    const set = new RowSet();
    set.reset(rows.slice(0, 2));
    const first = set.merge([row('a.png', 3, 0.5), row('z.png', 4, 0.7)]);
    expect(first.map((r) => [r.file, r.top[0]!.index])).toEqual([['b.png', 1], ['a.png', 3], ['z.png', 4]]);
    const second = set.merge([row('z.png', 5, 0.8), row('c.png', 1, 0.6)]);
    expect(second).not.toBe(first);
    expect(first.map((r) => r.file)).toEqual(['b.png', 'a.png', 'z.png']);
    expect(second.map((r) => [r.file, r.top[0]!.index])).toEqual([['b.png', 1], ['a.png', 3], ['z.png', 5], ['c.png', 1]]);
    // A reset (a full read, or a new run) starts from its rows, forgetting the earlier ones.
    set.reset([]);
    expect(set.merge([row('a.png', 2, 0.4)]).map((r) => r.file)).toEqual(['a.png']);
  });
});
