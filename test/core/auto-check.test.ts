import { describe, expect, it } from 'vitest';
import { choose, FULL_MARGINAL_IMAGES, marginAt, marginalWeight, OutputTally, verdict } from '../../main/core/auto-check.js';

const K = 10;
/** `n` rows of logits: each row sure of class `classOf(i)` by `margin` nats over the rest. */
function rows(n: number, classOf: (i: number) => number, margin: number): Float32Array {
  const out = new Float32Array(n * K);
  for (let i = 0; i < n; i++) out[i * K + classOf(i)] = margin;
  return out;
}
const check = (logits: Float32Array) => {
  const t = new OutputTally(K);
  t.add(logits, 'logits');
  return t.check();
};

describe('OutputTally', () => {
  it('scores sure and varied predictions above unsure ones, and above sure ones collapsed onto one class', () => {
    const n = 64;
    const sure = check(rows(n, (i) => i % K, 8));
    const unsure = check(rows(n, (i) => i % K, 0.5));
    const collapsed = check(rows(n, () => 3, 8));
    expect(sure.entropy).toBeLessThan(unsure.entropy);
    expect(sure.confidence).toBeGreaterThan(0.99);
    expect(sure.marginal).toBeCloseTo(Math.log(K), 2);
    expect(collapsed.marginal).toBeLessThan(0.05);
    expect(sure.score).toBeGreaterThan(unsure.score);
    expect(sure.score).toBeGreaterThan(collapsed.score + 1);
  });

  it('adds up over batches as over one, and reads probabilities as they are', () => {
    const a = rows(20, (i) => i % 3, 2);
    const b = rows(30, (i) => (i * 7) % K, 4);
    const t = new OutputTally(K);
    t.add(a, 'logits');
    t.add(b, 'logits');
    const all = new Float32Array(50 * K);
    all.set(a);
    all.set(b, a.length);
    const one = check(all);
    expect(t.check().score).toBeCloseTo(one.score, 10);
    expect(t.images).toBe(50);
    const probs = new OutputTally(2);
    probs.add(Float32Array.from([0.5, 0.5, 1, 0]), 'probabilities');
    expect(probs.check().entropy).toBeCloseTo(Math.log(2) / 2, 10);
  });

  it('counts the mean prediction in proportion to the images, fully from FULL_MARGINAL_IMAGES on', () => {
    expect(marginalWeight(1)).toBeCloseTo(1 / FULL_MARGINAL_IMAGES, 10);
    expect(marginalWeight(FULL_MARGINAL_IMAGES)).toBe(1);
    expect(marginalWeight(1000)).toBe(1);
    expect(new OutputTally(K).check().score).toBe(-Infinity);
  });
});

describe('choose', () => {
  const mk = (id: string, score: number) => ({ id, value: id, check: { images: 48, entropy: 0, confidence: 0, marginal: 0, score } });
  it('takes the best candidate when it beats the clean model by the margin', () => {
    const r = choose([mk('clean', 1), mk('fog', 1.3), mk('rain', 1.1)], 'clean', 0.1);
    expect(r).toMatchObject({ id: 'fog', abstained: false });
    expect(r.gain).toBeCloseTo(0.3, 10);
    expect(r.lead).toBeCloseTo(0.2, 10);
  });
  it('abstains (keeps the clean model) when the best gains less than the margin', () => {
    const r = choose([mk('clean', 1), mk('fog', 1.05)], 'clean', 0.1);
    expect(r).toMatchObject({ id: 'clean', abstained: true, gain: 0 });
    expect(r.lead).toBeLessThan(0);
  });
  it('keeps the clean model, without abstaining, when nothing scores above it', () => {
    expect(choose([mk('clean', 2), mk('fog', 1)], 'clean', 0.1)).toMatchObject({ id: 'clean', abstained: false });
    expect(() => choose([mk('fog', 1)], 'clean', 0.1)).toThrow(/no "clean" candidate/);
  });
});

describe('verdict (sequential sample-then-commit)', () => {
  const mk = (id: string, score: number, images: number) => ({ id, value: id, check: { images, entropy: 0, confidence: 0, marginal: 0, score } });
  it('shrinks the margin as 1/√n from FULL_MARGINAL_IMAGES on', () => {
    expect(marginAt(0.05, 8)).toBe(0.05);
    expect(marginAt(0.05, FULL_MARGINAL_IMAGES)).toBe(0.05);
    expect(marginAt(0.05, FULL_MARGINAL_IMAGES * 4)).toBeCloseTo(0.025, 12);
  });
  it('settles a clear lead at once, samples on while it is close, and lets the margin decide at the cap', () => {
    const clear = verdict([mk('clean', 1, 32), mk('fog', 1.2, 32)], 'clean', 0.05, 256);
    expect(clear).toMatchObject({ settled: true, choice: { id: 'fog' } });
    const cleanClear = verdict([mk('clean', 1, 32), mk('fog', 0.8, 32)], 'clean', 0.05, 256);
    expect(cleanClear).toMatchObject({ settled: true, choice: { id: 'clean', abstained: false } });
    // 0.04 over the clean model: below the margin on 32 images (kept clean, not settled)...
    const close = verdict([mk('clean', 1, 32), mk('fog', 1.04, 32)], 'clean', 0.05, 256);
    expect(close).toMatchObject({ settled: false, choice: { id: 'clean', abstained: true } });
    // ...chosen on 128 (margin 0.025) but not yet settled (2 × 0.025 > 0.04), and settled at the cap.
    expect(verdict([mk('clean', 1, 128), mk('fog', 1.04, 128)], 'clean', 0.05, 256)).toMatchObject({ settled: false, choice: { id: 'fog' } });
    expect(verdict([mk('clean', 1, 256), mk('fog', 1.04, 256)], 'clean', 0.05, 256)).toMatchObject({ settled: true, choice: { id: 'fog' } });
    // Two patches nearly alike: ahead of the clean model, but not of each other, so not yet settled.
    expect(verdict([mk('clean', 1, 32), mk('fog', 1.3, 32), mk('haze', 1.28, 32)], 'clean', 0.05, 256)).toMatchObject({ settled: false, choice: { id: 'fog' } });
    // A patch that scores below the clean model is never taken, however many images.
    expect(verdict([mk('clean', 1, 256), mk('fog', 0.99, 256)], 'clean', 0.05, 256).choice.id).toBe('clean');
    // The runner-up: a patch that beats the clean model by the margin too, or not (or the clean model itself).
    expect(verdict([mk('clean', 1, 32), mk('fog', 1.3, 32), mk('haze', 1.28, 32)], 'clean', 0.05, 256)).toMatchObject({ second: { id: 'haze' }, secondAhead: true });
    expect(verdict([mk('clean', 1, 32), mk('fog', 1.3, 32), mk('haze', 1.04, 32)], 'clean', 0.05, 256)).toMatchObject({ second: { id: 'haze' }, secondAhead: false });
    expect(verdict([mk('clean', 1, 32), mk('fog', 1.3, 32), mk('haze', 0.9, 32)], 'clean', 0.05, 256)).toMatchObject({ second: { id: 'clean' }, secondAhead: false });
  });
});
