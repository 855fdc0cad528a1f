import { RwsError } from './errors.js';

/**
 * Per-output-channel symmetric quantization of signature deltas: one f32 scale per channel of
 * `axis`, scale = max|x| / qmax (as f32), q = round(x / scale), x ≈ q · scale. No value needs
 * clamping, so every error is at most scale / 2.
 */

/** Quantized values and their per-channel scales. */
export interface Quantized {
  q: Int8Array;
  scales: Float32Array;
}

/** How `shape` splits around `axis`: elements before it, its length, elements after it. */
function channelLayout(shape: readonly number[], axis: number, count: number): { outer: number; channels: number; inner: number } {
  if (shape.length === 0) {
    if (count !== 1 || axis !== 0) throw new RwsError('quantize-shape', `a scalar has one channel on axis 0, got axis ${axis}`);
    return { outer: 1, channels: 1, inner: 1 };
  }
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) {
    throw new RwsError('quantize-shape', `channel axis ${axis} is outside shape [${shape.join(', ')}]`);
  }
  // An empty tensor has nothing to loop over, however large its other dims claim to be.
  if (count === 0 && shape.includes(0)) return { outer: 0, channels: shape[axis]!, inner: 0 };
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  const channels = shape[axis]!;
  if (outer * channels * inner !== count) {
    throw new RwsError('quantize-shape', `${count} values do not fill shape [${shape.join(', ')}]`);
  }
  return { outer, channels, inner };
}

const F32_MAX = 3.4028234663852886e38;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The next f32 above a non-negative f32. */
function nextUp(x: number): number {
  f32[0] = x;
  u32[0] = u32[0]! + 1;
  return f32[0];
}

function quantizeSymmetric(values: Float32Array, shape: readonly number[], axis: number, qmax: number): Quantized {
  const { outer, channels, inner } = channelLayout(shape, axis, values.length);
  const maxAbs = new Float64Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = maxAbs[c]!;
      for (let i = base; i < base + inner; i++) {
        const a = Math.abs(values[i]!);
        if (!(a <= m)) {
          if (!Number.isFinite(a)) throw new RwsError('quantize-value', `value ${values[i]} at index ${i} cannot be quantized`);
          m = a;
        }
      }
      maxAbs[c] = m;
    }
  }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = maxAbs[c]!;
    if (m === 0) continue; // an all-zero channel keeps scale 0 and q 0
    let s = Math.fround(m / qmax);
    // Rounding m/qmax down to f32 costs nothing for normal numbers (m/s rounds to qmax still), but
    // among subnormal scales it can push the largest value a whole step past qmax: step up then.
    if (Math.round(m / s) > qmax) s = nextUp(s);
    scales[c] = s;
  }
  const q = new Int8Array(values.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      if (s === 0) continue;
      const base = (o * channels + c) * inner;
      for (let i = base; i < base + inner; i++) {
        const r = values[i]! / s;
        // Half away from zero keeps the code symmetric: q(-x) = -q(x).
        q[i] = r < 0 ? -Math.round(-r) : Math.round(r);
      }
    }
  }
  return { q, scales };
}

/** int8 per-channel quantization along `axis` (q in -127..127, scale = max|x| / 127). */
export function quantizeInt8(values: Float32Array, shape: readonly number[], axis: number): Quantized {
  return quantizeSymmetric(values, shape, axis, 127);
}

/** int4 per-channel quantization along `axis` (q in -7..7, scale = max|x| / 7), one value per Int8 entry. */
export function quantizeInt4(values: Float32Array, shape: readonly number[], axis: number): Quantized {
  return quantizeSymmetric(values, shape, axis, 7);
}

/** Pack int4 values two a byte, low nibble first, two's complement nibbles; an odd tail leaves the high nibble 0. */
export function packInt4(q: Int8Array): Uint8Array {
  const out = new Uint8Array((q.length + 1) >> 1);
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!;
    if (v < -8 || v > 7) throw new RwsError('quantize-value', `int4 value ${v} at index ${i} is outside -8..7`);
    out[i >> 1]! |= (v & 0xf) << ((i & 1) << 2);
  }
  return out;
}

/** Unpack `count` int4 values packed by `packInt4`. */
export function unpackInt4(bytes: Uint8Array, count: number): Int8Array {
  // Math.ceil: `(count + 1) >> 1` wraps at 2^32 and would let a huge count through to the allocation below.
  if (!Number.isSafeInteger(count) || count < 0 || bytes.length !== Math.ceil(count / 2)) {
    throw new RwsError('quantize-shape', `${bytes.length} bytes hold ${bytes.length * 2} int4 values, expected ${count}`);
  }
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const nib = (bytes[i >> 1]! >> ((i & 1) << 2)) & 0xf;
    out[i] = (nib << 28) >> 28; // sign-extend the nibble
  }
  return out;
}

/** x = q · scale of its channel, as f32. */
export function dequantize(q: Int8Array, scales: Float32Array, shape: readonly number[], axis: number): Float32Array {
  const { outer, channels, inner } = channelLayout(shape, axis, q.length);
  if (scales.length !== channels) {
    throw new RwsError('quantize-shape', `${scales.length} scales for ${channels} channels of shape [${shape.join(', ')}] on axis ${axis}`);
  }
  const out = new Float32Array(q.length);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      const base = (o * channels + c) * inner;
      if (s * 127 < F32_MAX) for (let i = base; i < base + inner; i++) out[i] = q[i]! * s;
      // Only a channel whose max is within a rounding step of the largest f32 gets here.
      else for (let i = base; i < base + inner; i++) out[i] = Math.max(-F32_MAX, Math.min(F32_MAX, q[i]! * s));
    }
  }
  return out;
}
