import { describe, expect, it } from 'vitest';
import { CONDITIONS, corrupt, FAMILIES, familiesOf, findFamily, SOURCES, type Image } from '../../../main/core/corruptions/index.js';
import { fogPhysicalParams, lowLightPhysicalParams, rainPhysicalParams, shakePhysicalParams, snowPhysicalParams } from '../../../main/core/corruptions/physical.js';
import { partStrength, tableAt } from '../../../main/core/corruptions/families.js';
import { hazeDisplayParams } from '../../../main/core/corruptions/fog.js';
import { gammaDarkParams } from '../../../main/core/corruptions/low-light.js';
import { lineBlurParams } from '../../../main/core/corruptions/motion-blur.js';
import { rainLayerParams } from '../../../main/core/corruptions/rain.js';
import { isRwsError } from '../../../main/core/errors.js';

/** A bright item on a dark ground, like a Fashion-MNIST image, in grey or RGB. */
function card(width: number, height: number, channels: 1 | 3): Image {
  const data = new Float32Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = Math.abs(x - width / 2) < width / 4 && Math.abs(y - height / 2) < height / 3;
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = inside ? 0.85 - 0.1 * c : 0.05 + (0.1 * x) / width;
    }
  }
  return { width, height, channels, data };
}

const mean = (d: Float32Array) => d.reduce((s, v) => s + v, 0) / d.length;
/** Michelson-like contrast between the item and the ground. */
function contrast(img: Image): number {
  const { width: w, height: h, channels: c } = img;
  let inS = 0, inN = 0, outS = 0, outN = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = img.data[(y * w + x) * c]!;
    if (Math.abs(x - w / 2) < w / 4 && Math.abs(y - h / 2) < h / 3) (inS += v), inN++;
    else (outS += v), outN++;
  }
  return inS / inN - outS / outN;
}

describe('generator families', () => {
  it('gives every condition at least two families, one of them physical, each with a cited source', () => {
    for (const c of CONDITIONS) {
      const fams = familiesOf(c.id);
      expect(fams.length, c.id).toBeGreaterThanOrEqual(2);
      expect(fams.some((f) => f.id === 'physical'), c.id).toBe(true);
      expect(new Set(fams.map((f) => f.id)).size).toBe(fams.length);
      for (const f of fams) for (const src of f.sources) expect(SOURCES[src], `${c.id}/${f.id}`).toBeTruthy();
      // At least two independent implementations: leaving one lineage out leaves another to train on.
      expect(new Set(fams.map((f) => f.lineage)).size, c.id).toBeGreaterThanOrEqual(2);
    }
    // ImageNet-C at its canonical severities where it defines the condition.
    for (const id of ['fog', 'snow', 'noise', 'motion-blur']) expect(familiesOf(id).map((f) => f.id)).toContain('imagenet-c');
    // The pairs are conditions of their own, each family one family of each part in turn.
    for (const id of ['foggy-night', 'night-rain']) {
      for (const f of familiesOf(id)) {
        expect(f.steps!.length, `${id}/${f.id}`).toBe(2);
        for (const st of f.steps!) expect(findFamily(st.condition, st.family), `${id}/${f.id}: ${st.condition}/${st.family}`).toBeDefined();
      }
    }
  });

  const cases = FAMILIES.flatMap((f) => [1, 2.5, 5].map((s) => [`${f.condition}/${f.id}`, s] as const));
  it.each(cases)('%s at strength %s is deterministic for a seed, differs across seeds, keeps shape and range, and leaves the input alone', (key, s) => {
    for (const channels of [1, 3] as const) {
      const img = card(28, 28, channels);
      const before = Float32Array.from(img.data);
      const a = corrupt(img, key, s, 7);
      expect(Array.from(corrupt(img, key, s, 7).data)).toEqual(Array.from(a.data));
      expect(a.data.length).toBe(img.data.length);
      expect(a.data.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(Array.from(img.data)).toEqual(Array.from(before));
      const b = corrupt(img, key, s, 8);
      expect(Array.from(b.data)).not.toEqual(Array.from(a.data));
    }
  });

  it('the default family at an integer strength is the first generators, bit for bit', () => {
    const img = card(28, 28, 1);
    for (const c of CONDITIONS.filter((x) => !x.parts)) {
      const def = familiesOf(c.id)[0]!;
      expect(def.legacy).toBe(true);
      for (const s of [1, 3, 5]) expect(Array.from(corrupt(img, `${c.id}/${def.id}`, s, 3).data)).toEqual(Array.from(corrupt(img, c.id, s, 3).data));
    }
  });

  it('physical strengths follow the documented physics, light to heavy', () => {
    expect(fogPhysicalParams(1).farTransmission).toBeCloseTo(0.9, 10);
    expect(fogPhysicalParams(5).farTransmission).toBeCloseTo(0.1, 10);
    expect(lowLightPhysicalParams(1).stops).toBe(2);
    expect(lowLightPhysicalParams(5).stops).toBe(6);
    expect(rainPhysicalParams(1).rate).toBeCloseTo(1, 10);
    expect(rainPhysicalParams(5).rate).toBeCloseTo(100, 8);
    expect(snowPhysicalParams(1).visibilityM).toBeCloseTo(2000, 8);
    expect(snowPhysicalParams(5).visibilityM).toBeCloseTo(100, 8);
    expect(shakePhysicalParams(1).lengthShare).toBeCloseTo(0.04, 10);
    expect(shakePhysicalParams(5).lengthShare).toBeCloseTo(0.3, 10);
    // The data-set-style families: mean haze transmission 0.8 → 0.12, gamma 2 → 5, streak seeds and lengths, line kernels.
    expect(hazeDisplayParams(1).transmission).toBeCloseTo(0.8, 10);
    expect(hazeDisplayParams(5).transmission).toBeCloseTo(0.12, 10);
    expect(gammaDarkParams(1).gamma).toBe(2);
    expect(gammaDarkParams(5).gamma).toBe(5);
    expect(rainLayerParams(5).seedShare).toBeGreaterThan(rainLayerParams(1).seedShare);
    expect(lineBlurParams(5).lengthShare).toBeGreaterThan(lineBlurParams(1).lengthShare);
    // A compound condition's parts go three quarters of the way along their own scales.
    expect(partStrength(1)).toBe(1);
    expect(partStrength(5)).toBe(4);
    for (const params of [fogPhysicalParams, rainPhysicalParams, snowPhysicalParams] as const) {
      const veil = (s: number) => { const p = params(s) as { farTransmission?: number; veil?: number }; return p.farTransmission ?? p.veil!; };
      for (let s = 1; s < 5; s += 0.5) expect(veil(s + 0.5)).toBeLessThan(veil(s));
    }
  });

  it('heavier is worse: fog and snow take contrast away, low light takes light away, as strength grows', () => {
    const img = card(64, 64, 1);
    const avg = (key: string, s: number, f: (i: Image) => number) => [1, 2, 3, 4].reduce((t, seed) => t + f(corrupt(img, key, s, seed)), 0) / 4;
    for (const key of ['fog/physical', 'fog/imagenet-c', 'fog/display-haze', 'snow/physical', 'rain/physical', 'foggy-night/physical', 'foggy-night/display', 'night-rain/physical']) {
      const c = [1, 3, 5].map((s) => avg(key, s, contrast));
      expect(c[1]!, key).toBeLessThan(c[0]!);
      expect(c[2]!, key).toBeLessThan(c[1]!);
    }
    // Dense fog leaves a third of the contrast or less.
    expect(avg('fog/physical', 5, contrast)).toBeLessThan(contrast(img) / 3);
    for (const key of ['low-light/physical', 'low-light/gamma-dark']) {
      const light = [1, 3, 5].map((s) => avg(key, s, (i) => mean(i.data)));
      expect(light[1]!, key).toBeLessThan(light[0]!);
      expect(light[2]!, key).toBeLessThan(light[1]!);
    }
    // Dense display-space haze keeps a third of the contrast or less too.
    expect(avg('fog/display-haze', 5, contrast)).toBeLessThan(contrast(img) / 3);
  });

  it('interpolates table families between integer strengths', () => {
    const t = [[0], [10], [20], [30], [40]];
    expect(tableAt(t, 1)).toEqual([0]);
    expect(tableAt(t, 2.25)).toEqual([12.5]);
    expect(tableAt(t, 5)).toEqual([40]);
  });

  it('refuses an unknown family and a strength outside 1–5, naming them', () => {
    const img = card(8, 8, 1);
    const codes = [() => corrupt(img, 'fog/cloud', 3, 0), () => corrupt(img, 'fog/physical', 5.5, 0), () => corrupt(img, 'fog/physical', Number.NaN, 0)].map((f) => {
      try {
        f();
        return 'none';
      } catch (e) {
        expect(isRwsError(e)).toBe(true);
        return (e as { code: string }).code;
      }
    });
    expect(codes).toEqual(['usage-family', 'usage-severity', 'usage-severity']);
    expect(() => corrupt(img, 'fog/cloud', 3, 0)).toThrow(/"cloud" of fog \(one of rws-v1, physical, imagenet-c, display-haze\)/);
  });
});
