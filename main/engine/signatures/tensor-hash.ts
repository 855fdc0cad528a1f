// Identifies a base tensor by value, so a signature made for another model is refused by name.
import { createHash } from 'node:crypto';

/** SHA-256 (hex) of the tensor's values as little-endian float32 bytes, however the model stores them. */
export function hashTensor(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (!LITTLE_ENDIAN) {
    const le = new Uint8Array(values.length * 4);
    const view = new DataView(le.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return createHash('sha256').update(le).digest('hex');
  }
  return createHash('sha256').update(bytes).digest('hex');
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
