import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FolderResultStore } from '../../main/service/folder-result-store.js';

const labels = ['zero', 'one', 'two', 'three'];
const pathOf = (file: string) => `/in/${file}`;
const top = (seed: number) => [
  { index: seed % 4, label: labels[seed % 4]!, score: 0.5 + seed / 1e7 },
  { index: (seed + 1) % 4, label: labels[(seed + 1) % 4]!, score: 0.25 - seed / 1e8 },
];

describe('FolderResultStore', () => {
  it('gives rows in file order with labels, exact scores and paths rebuilt', () => {
    const s = new FolderResultStore(2, labels, pathOf);
    s.add('b.png', top(1));
    s.add('a/c.png', top(2), '/in/a/c.png');
    s.add('A.png', top(3), '/elsewhere/A.png');
    expect(s.count).toBe(3);
    expect(s.page(0, 10)).toEqual([
      { file: 'A.png', path: '/elsewhere/A.png', top: top(3) },
      { file: 'a/c.png', path: '/in/a/c.png', top: top(2) },
      { file: 'b.png', path: '/in/b.png', top: top(1) },
    ]);
    expect(s.page(1, 1).map((r) => r.file)).toEqual(['a/c.png']);
    expect(s.page(5, 10)).toEqual([]);
  });

  it('gives the rows added since a slot, in the order they came, for streaming', () => {
    const s = new FolderResultStore(2, labels, pathOf);
    s.add('b.png', top(1));
    const from = s.count;
    s.add('c.png', top(2), '/elsewhere/c.png');
    s.add('a.png', top(3));
    expect(s.rowsAdded(from)).toEqual([
      { file: 'c.png', path: '/elsewhere/c.png', top: top(2) },
      { file: 'a.png', path: '/in/a.png', top: top(3) },
    ]);
    expect(s.rowsAdded(s.count)).toEqual([]);
  });

  it('keeps at most k classes and names an index with no label by its number', () => {
    const s = new FolderResultStore(1, labels, pathOf);
    s.add('x.png', [{ index: 9, label: '9', score: 0.75 }, { index: 1, label: 'one', score: 0.25 }]);
    expect(s.page(0, 1)[0]!.top).toEqual([{ index: 9, label: '9', score: 0.75 }]);
    expect(s.topWidth).toBe(1);
  });

  it('stays sorted while rows keep coming between reads (past its first capacity)', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 700 }), { minLength: 1, maxLength: 5 }), (batches) => {
        const s = new FolderResultStore(2, labels, pathOf);
        const all: string[] = [];
        const seen = new Set<string>();
        let n = 0;
        for (const batch of batches) {
          for (const f of batch) {
            if (seen.has(f)) continue;
            seen.add(f);
            all.push(f);
            s.add(f, top(n++));
          }
          const want = [...all].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
          expect(s.page(0, 10_000).map((r) => r.file)).toEqual(want);
          const snap = s.sorted();
          expect(snap.count).toBe(want.length);
          expect([...snap.rows].map((r) => r.file)).toEqual(want);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('a snapshot for export holds only the rows there were when it was taken', () => {
    const s = new FolderResultStore(2, labels, pathOf);
    for (let i = 0; i < 1500; i++) s.add(`f${String(i).padStart(4, '0')}.png`, top(i));
    const snap = s.sorted();
    for (let i = 1500; i < 3000; i++) s.add(`a${i}.png`, top(i));
    const rows = [...snap.rows];
    expect(rows).toHaveLength(1500);
    expect(rows[1499]).toEqual({ file: 'f1499.png', top: top(1499) });
    expect(s.count).toBe(3000);
  });
});
