import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../main/core/float16.js';

/** Reference: the f16 nearest to x by exhaustive comparison over all finite f16 values, ties to even. */
const finite: { bits: number; value: number }[] = [];
for (let h = 0; h < 0x7c00; h++) finite.push({ bits: h, value: fromFloat16Bits(h) });
function referenceBits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // halfway between 65504 and 2^16 rounds to even = infinity
  let lo = 0;
  let hi = finite.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (finite[mid]!.value <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - finite[lo]!.value;
  const dh = finite[hi]!.value - a;
  const pick = dl < dh ? lo : dh < dl ? hi : (finite[lo]!.bits & 1) === 0 ? lo : hi;
  return sign | finite[pick]!.bits;
}

describe('float16', () => {
  it('decodes known patterns', () => {
    expect(fromFloat16Bits(0x3c00)).toBe(1);
    expect(fromFloat16Bits(0xc000)).toBe(-2);
    expect(fromFloat16Bits(0x7bff)).toBe(65504);
    expect(fromFloat16Bits(0x0001)).toBe(2 ** -24);
    expect(fromFloat16Bits(0x0400)).toBe(2 ** -14);
    expect(fromFloat16Bits(0x7c00)).toBe(Infinity);
    expect(fromFloat16Bits(0xfc00)).toBe(-Infinity);
    expect(fromFloat16Bits(0x7e00)).toBeNaN();
    expect(Object.is(fromFloat16Bits(0x8000), -0)).toBe(true);
  });

  it('round-trips every f16 value exactly (all 65536 patterns)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToFloat16(float16ToFloat32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) expect((back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0).toBe(true);
      else expect(back[h]).toBe(h);
    }
  });

  it('rounds to nearest, ties to even', () => {
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, 1.0 is even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, rounds up to even
    expect(toFloat16Bits(65519)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -25)).toBe(0); // half the smallest subnormal: tie to 0
    expect(toFloat16Bits(Math.fround(2 ** -25 * (1 + 2 ** -23)))).toBe(1);
    expect(toFloat16Bits(3 * 2 ** -25)).toBe(2); // 1.5 units: tie to even 2
    expect(toFloat16Bits(-1e-10)).toBe(0x8000);
    expect(toFloat16Bits(NaN) & 0x7e00).toBe(0x7e00);
  });

  it('matches an exhaustive nearest-value reference on random f32 values', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -70000, max: 70000 }), (x) => {
        expect(toFloat16Bits(x)).toBe(referenceBits(Math.fround(x)));
      }),
      { numRuns: 20000 },
    );
  });

  it('matches the reference on every f32 near the f16 subnormal and normal boundaries', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (const start of [0x33000000, 0x33800000, 0x38000000, 0x387fc000, 0x38800000, 0x477fe000]) {
      for (let i = 0; i < 0x4000; i += 7) {
        u[0] = start + i;
        expect(toFloat16Bits(f[0]!)).toBe(referenceBits(f[0]!));
      }
    }
  });
});
