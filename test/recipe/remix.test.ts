import { describe, expect, it } from 'vitest';
import { bestPair, CLEAN_COST_PP, type GridCell } from '../../native-models/recipe/remix.js';

const cell = (a1: number, a2: number, mean: number, clean: number): GridCell => ({ alpha: [a1, a2], families: { physical: mean }, mean, clean });

describe('remix: the α pair a pair mix takes', () => {
  it('is the best mean among the pairs that cost at most 1 pp on clean images', () => {
    const cells = [cell(0.75, 0.5, 84.3, 92.0), cell(1, 0.25, 85.5, 92.5), cell(1, 0.5, 86.0, 90.8)];
    // 1, 0.5 scores best on the pair's images but costs 2 pp on clean images.
    expect(bestPair(cells, 92.8)?.alpha).toEqual([1, 0.25]);
    expect(bestPair(cells, 92.8 - 2)?.alpha).toEqual([1, 0.5]);
  });

  it('takes a pair at exactly the bound and none beyond it', () => {
    expect(bestPair([cell(1, 1, 80, 92 - CLEAN_COST_PP)], 92)?.alpha).toEqual([1, 1]);
    expect(bestPair([cell(1, 1, 80, 92 - CLEAN_COST_PP - 0.05)], 92)).toBeUndefined();
  });
});
