import { describe, expect, it } from 'vitest';
import { checkClassifier, classProbabilities, estimate, trainClassifier, type ConditionClass } from '../../main/core/auto-classifier.js';
import { isRwsError } from '../../main/core/errors.js';
import { createRandom } from '../../main/core/random.js';

const classes: ConditionClass[] = [
  { condition: 'clean', severity: 0 },
  { condition: 'fog', severity: 1 },
  { condition: 'fog', severity: 3 },
  { condition: 'rain', severity: 2 },
];
// Four Gaussian blobs in 3-D, one per class, on features of very different scales.
const centres = [
  [0, 0, 0],
  [3, 0, 100],
  [3, 3, 100],
  [-3, 0, -100],
];

function sample(n: number, seed: number): { xs: Float32Array[]; ys: number[] } {
  const rng = createRandom(seed);
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    const c = centres[k]!;
    xs.push(Float32Array.from([c[0]! + rng.normal(0, 0.7), c[1]! + rng.normal(0, 0.7), c[2]! + rng.normal(0, 30)]));
    ys.push(k);
  }
  return { xs, ys };
}

describe('trainClassifier', () => {
  const train = sample(800, 1);
  const model = trainClassifier(train.xs, train.ys, classes, 'test/1', { epochs: 30 });

  it('separates separable classes on unseen samples', () => {
    const test = sample(400, 2);
    let right = 0;
    test.xs.forEach((x, i) => {
      const p = classProbabilities(model, x);
      if (p.indexOf(Math.max(...p)) === test.ys[i]) right++;
    });
    expect(right / 400).toBeGreaterThan(0.95);
  });

  it('gives probabilities that sum to 1, per condition and with expected severity', () => {
    const e = estimate(model, [Float32Array.from([3, 1.5, 100])]);
    expect([...e.probs].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(e.conditions.get('fog')!).toBeGreaterThan(0.8);
    expect(e.severity.get('fog')!).toBeGreaterThan(1);
    expect(e.severity.get('fog')!).toBeLessThan(3);
    expect(e.severity.get('clean')).toBe(0);
  });

  it('is deterministic for a seed, and stores plain JSON numbers', () => {
    const again = trainClassifier(train.xs, train.ys, classes, 'test/1', { epochs: 30 });
    expect(again).toEqual(model);
    expect(JSON.parse(JSON.stringify(model))).toEqual(model);
  });

  it('refuses mismatched shapes, naming the field', () => {
    try {
      checkClassifier({ ...model, bias: [1] }, 3);
      expect.unreachable();
    } catch (e) {
      expect(isRwsError(e) && e.field).toBe('autoMix.classifier.bias');
    }
    expect(() => checkClassifier(model, 4)).toThrow(/mean: 3 values, the features have 4/);
    expect(() => trainClassifier([], [], classes, 'x')).toThrow(/0 feature vectors/);
  });
});
