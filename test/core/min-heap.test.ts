import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../main/core/min-heap.js';

describe('MinHeap', () => {
  it('gives back what it was given, least first, with pushes and pops interleaved', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 200 }), (ops) => {
        const heap = new MinHeap<number>((a, b) => a < b);
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) {
            model.sort((a, b) => a - b);
            expect(heap.pop()).toBe(model.shift());
          } else {
            heap.push(op);
            model.push(op);
          }
          expect(heap.size).toBe(model.length);
        }
      }),
    );
  });

  it('orders by its comparison, here shard numbers by the next file of each', () => {
    const next = ['b.jpg', 'a.jpg', 'c.jpg'];
    const heap = new MinHeap<number>((x, y) => next[x]! < next[y]!);
    [0, 1, 2].forEach((s) => heap.push(s));
    expect([heap.pop(), heap.pop(), heap.pop(), heap.pop()]).toEqual([1, 0, 2, undefined]);
  });
});
