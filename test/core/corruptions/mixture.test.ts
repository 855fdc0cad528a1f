import { describe, expect, it } from 'vitest';
import { familiesOf, type Image } from '../../../main/core/corruptions/index.js';
import { applyDraw, drawCondition, mixtureFamilies } from '../../../main/core/corruptions/mixture.js';
import { drawNuisance } from '../../../main/core/corruptions/nuisance.js';
import { isRwsError } from '../../../main/core/errors.js';
import { createRandom } from '../../../main/core/random.js';

const img: Image = { width: 16, height: 16, channels: 1, data: Float32Array.from({ length: 256 }, (_, i) => (i % 16 > 4 && i % 16 < 12 ? 0.8 : 0.05)) };

describe('camera nuisances after a condition', () => {
  it('change the image the same way for the same seed, keep it in 0..1, and are absent without a seed', () => {
    const d = drawCondition('fog', createRandom(5), { strength: [3, 3] });
    const bare = applyDraw(img, d);
    const a = applyDraw(img, { ...d, nuisance: 11 });
    expect(Array.from(applyDraw(img, { ...d, nuisance: 11 }).data)).toEqual(Array.from(a.data));
    // Some seed of a few changes the image (each nuisance is present with its own chance).
    const changed = [11, 12, 13, 14, 15].some((n) => applyDraw(img, { ...d, nuisance: n }).data.some((v, i) => Math.abs(v - bare.data[i]!) > 1e-3));
    expect(changed).toBe(true);
    for (const n of [11, 12, 13, 14, 15]) for (const v of applyDraw(img, { ...d, nuisance: n }).data) expect(v >= 0 && v <= 1).toBe(true);
  });

  it('reach: standard keeps a faint veil and a little blur; wide goes to a veil of 0.45 and blur of 1.5 px, from the same draws otherwise', () => {
    const draws = (level: 'standard' | 'wide') => Array.from({ length: 3000 }, (_, i) => drawNuisance(createRandom(i), level));
    const std = draws('standard');
    const wide = draws('wide');
    const veils = (ns: typeof std) => ns.map((n) => n.veil).filter((v) => v < 1);
    const blurs = (ns: typeof std) => ns.map((n) => n.blur).filter((b) => b > 0);
    expect(Math.min(...veils(std))).toBeGreaterThanOrEqual(0.75);
    expect(Math.max(...blurs(std))).toBeLessThanOrEqual(1.2);
    expect(Math.min(...veils(wide))).toBeLessThan(0.5);
    expect(Math.min(...veils(wide))).toBeGreaterThanOrEqual(0.45);
    expect(Math.max(...blurs(wide))).toBeGreaterThan(1.4);
    expect(Math.max(...blurs(wide))).toBeLessThanOrEqual(1.5);
    // Which nuisances are present, the gain, tone curve and noise do not depend on the reach.
    expect(wide.map((n) => [n.gain, n.gamma, n.noise, n.blur > 0, n.veil < 1])).toEqual(std.map((n) => [n.gain, n.gamma, n.noise, n.blur > 0, n.veil < 1]));
    // A draw marked wide is applied with the wide reach.
    const d = drawCondition('fog', createRandom(5), { strength: [3, 3] });
    const n = [...Array(40).keys()].find((k) => drawNuisance(createRandom(k), 'standard').veil < 1)!;
    expect(Array.from(applyDraw(img, { ...d, nuisance: n, nuisanceLevel: 'wide' }).data)).not.toEqual(Array.from(applyDraw(img, { ...d, nuisance: n }).data));
  });
});

describe('condition mixtures', () => {
  it('draws every family of a condition and strengths over the whole range', () => {
    const rng = createRandom(3);
    const seen = new Map<string, number>();
    let lo = 5;
    let hi = 1;
    for (let i = 0; i < 2000; i++) {
      const d = drawCondition('fog', rng);
      seen.set(d.family, (seen.get(d.family) ?? 0) + 1);
      lo = Math.min(lo, d.strength);
      hi = Math.max(hi, d.strength);
    }
    expect([...seen.keys()].sort()).toEqual(familiesOf('fog').map((f) => f.id).sort());
    for (const n of seen.values()) expect(n).toBeGreaterThan(2000 / familiesOf('fog').length / 2);
    expect(lo).toBeLessThan(1.05);
    expect(hi).toBeGreaterThan(4.95);
  });

  it('leaves a whole lineage out: the thin first fog goes with ImageNet-C fog', () => {
    const ids = mixtureFamilies('fog', { exclude: ['imagenet-c'] }).map((f) => f.id);
    expect(ids).not.toContain('imagenet-c');
    expect(ids).not.toContain('rws-v1');
    expect(ids).toContain('physical');
    const rng = createRandom(4);
    for (let i = 0; i < 200; i++) expect(['rws-v1', 'imagenet-c']).not.toContain(drawCondition('fog', rng, { exclude: ['imagenet-c'] }).family);
    expect(mixtureFamilies('fog', { only: ['physical'] }).map((f) => f.id)).toEqual(['physical']);
  });

  it('keeps strengths inside a given range, and a draw applied twice gives the same image', () => {
    const rng = createRandom(5);
    for (let i = 0; i < 100; i++) {
      const d = drawCondition('night-rain', rng, { strength: [2, 3] });
      expect(d.strength).toBeGreaterThanOrEqual(2);
      expect(d.strength).toBeLessThanOrEqual(3);
      expect(Array.from(applyDraw(img, d).data)).toEqual(Array.from(applyDraw(img, d).data));
    }
  });

  it('refuses a mixture with no family left, naming the condition', () => {
    try {
      mixtureFamilies('rain', { exclude: familiesOf('rain').map((f) => f.lineage) });
      expect.unreachable();
    } catch (e) {
      expect(isRwsError(e)).toBe(true);
      expect((e as Error).message).toMatch(/condition "rain": no generator family left/);
    }
  });
});
