import { describe, expect, it } from 'vitest';
import { conditionFeatures, FEATURE_NAMES } from '../../main/core/condition-features.js';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { syntheticItems } from '../engine/auto/fixtures.js';

const f = (img: Image, name: string): number => conditionFeatures(img)[FEATURE_NAMES.indexOf(name)]!;
const items = syntheticItems(20, 4);

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
const over = (name: string, fn: (img: Image, i: number) => Image) => mean(items.map((img, i) => f(fn(img, i), name)));
const clean = (name: string) => over(name, (img) => img);

describe('conditionFeatures', () => {
  it('gives one finite value per name, for grey and RGB images of any size', () => {
    const rgb: Image = { width: 40, height: 30, channels: 3, data: Float32Array.from({ length: 3600 }, (_, i) => (i % 97) / 97) };
    for (const img of [items[0]!, rgb, { width: 3, height: 3, channels: 1 as const, data: new Float32Array(9) }]) {
      const v = conditionFeatures(img);
      expect(v).toHaveLength(FEATURE_NAMES.length);
      for (const x of v) expect(Number.isFinite(x)).toBe(true);
    }
    expect(new Set(FEATURE_NAMES).size).toBe(FEATURE_NAMES.length);
  });

  it('gives the same values whatever image came before (scratch buffers are reused)', () => {
    const small = items[3]!;
    const first = Array.from(conditionFeatures(small));
    conditionFeatures({ width: 90, height: 70, channels: 1, data: Float32Array.from({ length: 6300 }, (_, i) => ((i * 37) % 101) / 101) });
    expect(Array.from(conditionFeatures(small))).toEqual(first);
  });

  it('reads fine-scale noise from the Laplacian', () => {
    expect(over('log-lap-median', (img, i) => corrupt(img, 'noise', 3, i))).toBeGreaterThan(clean('log-lap-median') + 2);
  });

  it('reads blur from the loss of fine-scale gradients', () => {
    expect(over('grad-ratio', (img, i) => corrupt(img, 'motion-blur', 4, i))).toBeGreaterThan(clean('grad-ratio') + 0.3);
  });

  it('reads fog from the lifted background and low light from the darkened top', () => {
    expect(over('border-mean', (img, i) => corrupt(img, 'fog', 4, i))).toBeGreaterThan(clean('border-mean') + 0.05);
    expect(over('p99', (img, i) => corrupt(img, 'low-light', 4, i))).toBeLessThan(clean('p99') - 0.3);
  });

  it('reads rain streaks from the column autocorrelation and snow from the bright share', () => {
    expect(over('ac-col', (img, i) => corrupt(img, 'rain', 4, i))).toBeGreaterThan(clean('ac-col') + 0.1);
    expect(over('bright-share', (img, i) => corrupt(img, 'snow', 5, i))).toBeGreaterThan(clean('bright-share'));
  });
});
