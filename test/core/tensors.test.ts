import { describe, expect, it } from 'vitest';
import { argmaxRow, batchDims, countCorrect, imageSize, topClasses, unitToByte, unitToBytes } from '../../main/core/tensors.js';

describe('tensor helpers', () => {
  it('lays out a batch as the model takes it', () => {
    const spec = { channels: 3, height: 4, width: 5 };
    expect(batchDims({ ...spec, layout: 'NCHW' }, 7)).toEqual([7, 3, 4, 5]);
    expect(batchDims({ ...spec, layout: 'NHWC' }, 7)).toEqual([7, 4, 5, 3]);
    expect(imageSize({ ...spec, layout: 'NHWC' })).toBe(60);
  });

  it('rounds 0..1 to bytes as an 8-bit file stores them, clamping outside values', () => {
    expect([-0.5, 0, 0.5 / 255, 0.49 / 255, 0.5, 1, 2].map(unitToByte)).toEqual([0, 0, 1, 0, 128, 255, 255]);
    expect(Array.from(unitToBytes(Float32Array.from([0.2, 0.8, 1.5])))).toEqual([51, 204, 255]);
  });

  it('finds the top class of each row and counts the right ones', () => {
    const scores = Float32Array.from([0, 2, 1, /* row 1 */ 5, 5, 1, /* row 2 */ -1, -3, -0.5]);
    expect([0, 1, 2].map((r) => argmaxRow(scores, r, 3))).toEqual([1, 0, 2]);
    expect(countCorrect(scores, [1, 1, 2], 3)).toBe(2);
    expect(countCorrect(scores.subarray(3), [9, 0, 2], 3, 1)).toBe(2);
  });

  it('turns logits into sorted softmax probabilities', () => {
    const top = topClasses(Float32Array.from([1, 3, 2]), ['a', 'b', 'c'], 2, 'logits');
    expect(top.map((t) => t.label)).toEqual(['b', 'c']);
    const e = [Math.exp(1), Math.exp(3), Math.exp(2)];
    expect(top[0]!.score).toBeCloseTo(e[1]! / (e[0]! + e[1]! + e[2]!), 12);
    expect(topClasses(Float32Array.from([0.2, 0.8]), ['x', 'y'], 5, 'probabilities').map((t) => t.score)).toEqual([0.800000011920929, 0.20000000298023224]);
  });
  it('refuses a score that is not finite instead of making a result of it, naming the class', () => {
    expect(() => topClasses(Float32Array.from([0.1, NaN, 0.3]), ['a', 'b', 'c'], 2, 'logits')).toThrow(/the model gave NaN as the score of class 1 \("b"\)/);
    expect(() => topClasses(Float32Array.from([Infinity, 0]), ['a', 'b'], 1, 'probabilities')).toThrow(expect.objectContaining({ code: 'non-finite-score' }));
    expect(() => argmaxRow(Float32Array.from([0, 1, -Infinity]), 0, 3)).toThrow(/-Infinity as the score of class 2/);
    expect(() => countCorrect(Float32Array.from([NaN, 1]), [0], 2)).toThrow(expect.objectContaining({ code: 'non-finite-score' }));
  });
});
