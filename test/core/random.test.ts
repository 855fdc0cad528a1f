import { describe, expect, it } from 'vitest';
import { createRandom, mixSeed } from '../../main/core/random.js';

describe('createRandom', () => {
  it('repeats its sequence for a seed', () => {
    const a = createRandom(123);
    const b = createRandom(123);
    for (let i = 0; i < 100; i++) expect(a.next()).toBe(b.next());
  });

  it('has roughly the right moments', () => {
    const r = createRandom(5);
    const n = 20000;
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    let sp = 0;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      su += u;
      const g = r.normal(2, 3);
      sn += g;
      sn2 += (g - 2) ** 2;
      sp += r.poisson(i % 2 ? 4 : 200);
    }
    expect(su / n).toBeCloseTo(0.5, 1);
    expect(sn / n).toBeCloseTo(2, 0);
    expect(Math.sqrt(sn2 / n)).toBeCloseTo(3, 0);
    expect(sp / n).toBeCloseTo(102, 0);
  });

  it('mixSeed separates streams', () => {
    expect(mixSeed(1, 2)).not.toBe(mixSeed(2, 1));
    expect(mixSeed(1, 2)).toBe(mixSeed(1, 2));
  });
});
