import { describe, expect, it } from 'vitest';
import { CONDITIONS, corrupt, type Image, type Severity } from '../../../main/core/corruptions/index.js';
import { plasmaFractal } from '../../../main/core/corruptions/fog.js';
import { createRandom } from '../../../main/core/random.js';
import { isRwsError } from '../../../main/core/errors.js';

/** A test card: a bright blob on a darker gradient, like a Fashion-MNIST item, in grey or RGB. */
function card(width: number, height: number, channels: 1 | 3): Image {
  const data = new Float32Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - width / 2, y - height / 2) / Math.min(width, height);
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = r < 0.3 ? 0.8 - 0.1 * c : 0.1 + (0.2 * x) / width;
    }
  }
  return { width, height, channels, data };
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

const ids = CONDITIONS.map((c) => c.id);
const singles = CONDITIONS.filter((c) => !c.parts).map((c) => c.id);

describe('corrupt', () => {
  it('lists the conditions with user-facing names, the pairs last with their parts', () => {
    expect(ids).toEqual(['rain', 'fog', 'low-light', 'snow', 'noise', 'motion-blur', 'foggy-night', 'night-rain']);
    expect(CONDITIONS.find((c) => c.id === 'noise')!.name).toBe('Sensor noise');
    expect(CONDITIONS.find((c) => c.id === 'foggy-night')!.parts).toEqual(['fog', 'low-light']);
  });

  it.each(ids)('%s is deterministic for a seed and differs across seeds', (id) => {
    const img = card(28, 28, 1);
    const a = corrupt(img, id, 3, 42);
    const b = corrupt(img, id, 3, 42);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const c = corrupt(img, id, 3, 43);
    expect(meanAbsDiff(a.data, c.data)).toBeGreaterThan(0);
  });

  it.each(ids)('%s keeps shape and range on grey and RGB images of any size, and leaves the input alone', (id) => {
    for (const [w, h, ch] of [[28, 28, 1], [17, 9, 3], [64, 40, 3], [1, 1, 1], [33, 70, 1]] as const) {
      const img = card(w, h, ch);
      const before = Float32Array.from(img.data);
      for (const s of [1, 3, 5] as Severity[]) {
        const out = corrupt(img, id, s, 7);
        expect(out.width).toBe(w);
        expect(out.height).toBe(h);
        expect(out.channels).toBe(ch);
        expect(out.data.length).toBe(w * h * ch);
        for (const v of out.data) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }
      expect(Array.from(img.data)).toEqual(Array.from(before));
    }
  });

  // A pair's parts pull apart (rain brightens, night darkens): the pairs are checked by contrast in families.test.ts.
  it.each(singles)('%s changes the image more at each higher severity (mean over seeds)', (id) => {
    const img = card(28, 28, 1);
    const effect = ([1, 2, 3, 4, 5] as Severity[]).map((s) => {
      let sum = 0;
      for (let seed = 0; seed < 24; seed++) sum += meanAbsDiff(img.data, corrupt(img, id, s, seed).data);
      return sum / 24;
    });
    expect(effect[0]).toBeGreaterThan(0.005);
    for (let s = 1; s < 5; s++) {
      // CIFAR-10-C's snow tuples trade flake count for flake size from 2 to 3: equal pixel change, not less.
      if (id === 'snow' && s === 2) expect(effect[s]).toBeGreaterThan(effect[s - 1]! * 0.95);
      else expect(effect[s]).toBeGreaterThan(effect[s - 1]!);
    }
  });

  it('low light darkens and fog brightens the background', () => {
    const img = card(28, 28, 1);
    const mean = (d: Float32Array): number => d.reduce((a, b) => a + b, 0) / d.length;
    expect(mean(corrupt(img, 'low-light', 3, 1).data)).toBeLessThan(mean(img.data) * 0.6);
    expect(corrupt(img, 'fog', 3, 1).data[0]).toBeGreaterThan(img.data[0]!);
  });

  it('refuses an unknown condition, a bad severity and mis-sized data with named errors', () => {
    const img = card(4, 4, 1);
    const codes: string[] = [];
    for (const f of [
      () => corrupt(img, 'hail', 3, 0),
      () => corrupt(img, 'fog', 6 as Severity, 0),
      () => corrupt({ ...img, width: 5 }, 'fog', 3, 0),
    ]) {
      try {
        f();
      } catch (e) {
        expect(isRwsError(e)).toBe(true);
        codes.push((e as { code: string }).code);
      }
    }
    expect(codes).toEqual(['usage-condition', 'usage-severity', 'image-shape']);
  });

  it('plasma fractal spans 0..1 and is seeded', () => {
    const a = plasmaFractal(32, 3, createRandom(1));
    const b = plasmaFractal(32, 3, createRandom(1));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Math.min(...a)).toBe(0);
    expect(Math.max(...a)).toBe(1);
  });
});
