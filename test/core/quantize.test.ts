import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dequantize, packInt4, quantizeInt4, quantizeInt8, unpackInt4 } from '../../main/core/quantize.js';

/** A random shape (rank 1..4), an axis of it, and f32 values filling it. */
const tensor = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      axis: fc.integer({ min: 0, max: shape.length - 1 }),
      values: fc
        .array(
          fc.oneof(
            fc.float({ noNaN: true, noDefaultInfinity: true, min: -10, max: 10 }),
            fc.float({ noNaN: true, noDefaultInfinity: true }),
            fc.constant(0),
            fc.float({ noNaN: true, min: Math.fround(-1e-40), max: Math.fround(1e-40) }),
          ),
          { minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) },
        )
        .map((v) => Float32Array.from(v)),
    }),
  );

function channelOf(i: number, shape: number[], axis: number): number {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  return Math.floor(i / inner) % shape[axis]!;
}

for (const [name, quantize, qmax] of [
  ['int8', quantizeInt8, 127],
  ['int4', quantizeInt4, 7],
] as const) {
  describe(`quantize ${name}`, () => {
    it('keeps every value within scale/2 of q*scale, q in range, scale = max|x|/qmax per channel', () => {
      fc.assert(
        fc.property(tensor, ({ shape, axis, values }) => {
          const { q, scales } = quantize(values, shape, axis);
          expect(scales.length).toBe(shape[axis]);
          const maxAbs = new Array<number>(shape[axis]!).fill(0);
          values.forEach((x, i) => {
            const c = channelOf(i, shape, axis);
            maxAbs[c] = Math.max(maxAbs[c]!, Math.abs(x));
          });
          maxAbs.forEach((m, c) => {
            const s = scales[c]!;
            if (m === 0) expect(s).toBe(0);
            // max/qmax rounded to f32 (one step up where a subnormal scale needs it)
            else expect(Math.abs(s - m / qmax)).toBeLessThanOrEqual(Math.max(s * 2 ** -23, 2 ** -149));
          });
          const deq = dequantize(q, scales, shape, axis);
          values.forEach((x, i) => {
            const s = scales[channelOf(i, shape, axis)]!;
            expect(Math.abs(q[i]!)).toBeLessThanOrEqual(qmax);
            // q*s is exact in f64, so this is the bound itself ...
            expect(Math.abs(x - q[i]! * s)).toBeLessThanOrEqual(s / 2);
            // ... and the f32 result adds at most half an f32 step of q*s.
            expect(Math.abs(x - deq[i]!)).toBeLessThanOrEqual(s / 2 + Math.abs(q[i]! * s) * 2 ** -24);
          });
        }),
        { numRuns: 2000 },
      );
    });

    it('is symmetric and exact on multiples of the scale', () => {
      const v = Float32Array.from([-qmax, -1, 0, 1, 1, 2, -2, 3]);
      const { q, scales } = quantize(v, [2, 4], 0);
      expect([...scales]).toEqual([1, 3 / qmax].map(Math.fround));
      expect([...dequantize(q, scales, [2, 4], 0)].slice(0, 4)).toEqual([-qmax, -1, 0, 1]);
      const neg = quantize(v.map((x) => -x), [2, 4], 0).q;
      expect([...neg]).toEqual([...q].map((x) => -x + 0));
    });

    it('quantizes along the given axis (axis 1 for ConvTranspose / Gemm transB=0)', () => {
      const v = Float32Array.from([1, 100, 2, 200, 3, 300]); // shape [3, 2]: column 1 is 100× column 0
      const { scales } = quantize(v, [3, 2], 1);
      expect([...scales]).toEqual([3 / qmax, 300 / qmax].map(Math.fround));
      expect(quantize(v, [3, 2], 0).scales.length).toBe(3);
    });

    it('refuses NaN, infinity and a shape that does not fit', () => {
      expect(() => quantize(Float32Array.from([1, NaN]), [2], 0)).toThrow(/index 1/);
      expect(() => quantize(Float32Array.from([Infinity]), [1], 0)).toThrow(/cannot be quantized/);
      expect(() => quantize(new Float32Array(5), [2, 2], 0)).toThrow(/do not fill/);
      expect(() => quantize(new Float32Array(4), [2, 2], 2)).toThrow(/outside/);
    });
  });
}

describe('int4 packing', () => {
  it('packs low nibble first, two\'s complement', () => {
    expect([...packInt4(Int8Array.from([1, -1, 7, -8, -7]))]).toEqual([0xf1, 0x87, 0x09]);
    expect([...unpackInt4(Uint8Array.from([0xf1, 0x87, 0x09]), 5)]).toEqual([1, -1, 7, -8, -7]);
  });

  it('round-trips any int4 sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -8, max: 7 }), { maxLength: 40 }), (xs) => {
        const q = Int8Array.from(xs);
        const packed = packInt4(q);
        expect(packed.length).toBe(Math.ceil(xs.length / 2));
        expect([...unpackInt4(packed, xs.length)]).toEqual(xs);
      }),
    );
  });

  it('refuses values out of range and a wrong byte count', () => {
    expect(() => packInt4(Int8Array.from([8]))).toThrow(/outside -8..7/);
    expect(() => unpackInt4(new Uint8Array(2), 5)).toThrow(/expected 5/);
  });
});
