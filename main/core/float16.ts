/**
 * IEEE 754 half precision <-> single precision, round to nearest even (what numpy and torch do), so
 * that f16 values survive a round trip exactly.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f16 bits of a number (first rounded to f32, then to f16 with round-to-nearest-even). */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  return f32BitsToF16Bits(u32[0]!);
}

/** The number an f16 bit pattern stands for. */
export function fromFloat16Bits(bits: number): number {
  return f16Table()[bits & 0xffff]!;
}

function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x47800000) {
    // >= 65536: infinity; NaN keeps the top of its payload and stays quiet.
    if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
    return sign | 0x7c00;
  }
  if (abs < 0x38800000) {
    // Below 2^-14: an f16 subnormal (or zero). Integer rounding avoids the double rounding that
    // adding a magic constant in f64 then narrowing to f32 would cause.
    const e = abs >>> 23;
    if (e < 102) return sign; // < 2^-25 (half the smallest subnormal, ties go to even = 0)
    const m = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - e;
    let q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (q & 1) === 1)) q++;
    return sign | q;
  }
  // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even; a carry
  // into the exponent is correct, up to and including infinity for 65520 <= |x| < 65536.
  const odd = (abs >>> 13) & 1;
  return sign | ((abs - 0x38000000 + 0xfff + odd) >>> 13);
}

function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// 65536 entries (256 KiB): decoding is a table lookup. Built at the first use, not at import:
// every `rws` command and the inference worker import this module, most never decode an f16.
let table: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32(h);
  }
  return table;
}

/** Round f32 values to f16 bit patterns (round-to-nearest-even). */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** Widen f16 bit patterns to f32 (exact). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const t = f16Table();
  for (let i = 0; i < out.length; i++) out[i] = t[bits[i]!]!;
  return out;
}
