import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeWire, encodeWire, fromBase64, toBase64 } from '../../main/api/wire.js';

describe('wire codec', () => {
  it('base64 matches Node for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b64 = toBase64(bytes);
        expect(b64).toBe(Buffer.from(bytes).toString('base64'));
        expect([...fromBase64(b64)]).toEqual([...bytes]);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips typed arrays nested in objects, bit for bit', () => {
    fc.assert(
      fc.property(fc.float32Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.string(), (f, u, s) => {
        const back = decodeWire(encodeWire({ a: { data: f, list: [u, 1, s] }, n: null })) as {
          a: { data: Float32Array; list: [Uint8Array, number, string] };
          n: null;
        };
        expect(back.a.data).toBeInstanceOf(Float32Array);
        expect(new Uint8Array(back.a.data.buffer)).toEqual(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
        expect(back.a.list[0]).toBeInstanceOf(Uint8Array);
        expect([...back.a.list[0]]).toEqual([...u]);
        expect(back.a.list.slice(1)).toEqual([1, s]);
        expect(back.n).toBeNull();
      }),
      { numRuns: 300 },
    );
  });

  it('encodes a typed array at the top level and a subarray view', () => {
    const big = new Float32Array([1, 2, 3, 4]);
    expect(decodeWire(encodeWire(big.subarray(1, 3)))).toEqual(new Float32Array([2, 3]));
  });

  it('refuses bad base64', () => {
    expect(() => decodeWire('{"$u8":"ab$c"}')).toThrow(/base64/);
  });
});
