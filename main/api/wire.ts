/**
 * JSON for the HTTP/WebSocket transport of the contract. Typed arrays do not survive JSON, so a
 * Float32Array travels as `{"$f32": base64}` and a Uint8Array as `{"$u8": base64}` (little-endian
 * bytes); everything else is plain JSON. Pure TS: used by `rws serve` and by the browser client.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Standard base64 (with padding) of bytes. */
export function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  const CHUNK = 3 * 8192;
  for (let start = 0; start < bytes.length; start += CHUNK) {
    const end = Math.min(bytes.length, start + CHUNK);
    let s = '';
    let i = start;
    for (; i + 2 < end; i += 3) {
      const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
    }
    if (i < end) {
      const rest = end - i;
      const n = (bytes[i]! << 16) | (rest > 1 ? bytes[i + 1]! << 8 : 0);
      s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + (rest > 1 ? ALPHABET[(n >> 6) & 63]! : '=') + '=';
    }
    parts.push(s);
  }
  return parts.join('');
}

/** Bytes of a standard base64 text; throws on a character outside the alphabet. */
export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0) throw new Error(`invalid base64 character at ${i}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 255;
    }
  }
  return out.subarray(0, o);
}

function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** JSON text of a value, with typed arrays encoded. */
export function encodeWire(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
    // JSON.stringify has already turned typed arrays into objects by the time `v` arrives; read the holder.
    const raw = key === '' ? v : (this as Record<string, unknown>)[key];
    if (raw instanceof Float32Array) return { $f32: toBase64(f32Bytes(raw)) };
    if (raw instanceof Uint8Array) return { $u8: toBase64(raw) };
    return v;
  });
}

/** The value of a wire JSON text, typed arrays restored. */
export function decodeWire(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (keys.length === 1 && typeof o.$f32 === 'string') {
        const bytes = fromBase64(o.$f32);
        if (bytes.length % 4 !== 0) throw new Error('a $f32 value is not a whole number of floats');
        // Copy into a fresh, aligned buffer.
        const out = new Float32Array(bytes.length / 4);
        new Uint8Array(out.buffer).set(bytes);
        return out;
      }
      if (keys.length === 1 && typeof o.$u8 === 'string') return fromBase64(o.$u8);
    }
    return v;
  });
}
