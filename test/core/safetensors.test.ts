import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../main/core/errors.js';
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput } from '../../main/core/safetensors.js';

const PYTHON = process.env.RWS_PYTHON ?? '/usr/bin/python3';
const CHECKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'safetensors_check.py');
const dir = mkdtempSync(path.join(tmpdir(), 'rws-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function f32bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

const sample: SafetensorsInput[] = [
  { name: 'conv1.weight', dtype: 'F32', shape: [2, 1, 1, 3], data: f32bytes([1, 2, 3, 4, 5, 6]) },
  { name: 'onnx::Conv_193', dtype: 'I8', shape: [3], data: new Uint8Array([1, 255, 7]) },
  { name: 'onnx::Conv_193.scale', dtype: 'F32', shape: [1], data: f32bytes([0.5]) },
  { name: 'half', dtype: 'F16', shape: [1, 1], data: new Uint8Array([0x00, 0x3c]) },
  { name: 'packed', dtype: 'U8', shape: [3], data: new Uint8Array([0x1f, 0x80, 0x07]) },
  { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
];
const sampleMeta = { format: 'rws/1', nested: JSON.stringify({ a: [1, 2] }), unicode: 'brouillard ☁' };

/** A file with the given JSON header text (padded to 8) and data bytes. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + data.length).fill(0x20, 8, 8 + padded);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(padded), true);
  out.set(json, 8);
  out.set(data, 8 + padded);
  return out;
}

describe('encodeSafetensors / decodeSafetensors', () => {
  it('round-trips tensors and metadata, data 8-byte aligned and contiguous', () => {
    const bytes = encodeSafetensors(sample, sampleMeta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.__metadata__).toEqual(sampleMeta);
    let at = 0;
    for (const t of sample) {
      expect(header[t.name].data_offsets).toEqual([at, at + t.data.length]);
      at += t.data.length;
    }
    expect(bytes.length).toBe(8 + n + at);

    const { metadata, tensors } = decodeSafetensors(bytes, 'x.safetensors');
    expect(metadata).toEqual(sampleMeta);
    expect([...tensors.keys()].sort()).toEqual(sample.map((t) => t.name).sort());
    for (const t of sample) {
      const got = tensors.get(t.name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect([...got.data]).toEqual([...t.data]);
    }
  });

  it('gives the same bytes for the same input', () => {
    expect(encodeSafetensors(sample, sampleMeta)).toEqual(encodeSafetensors(sample, sampleMeta));
  });

  it('writes the exact bytes of the reference implementation for a known file', () => {
    // From safetensors' own test_serialization_forced_alignement (tensor.rs), plus an empty __metadata__.
    const bytes = encodeSafetensors([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data: f32bytes([0, 1, 2, 3, 4, 5]) }], {});
    const header = '{"__metadata__":{},"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(bytes).toEqual(rawFile(header, f32bytes([0, 1, 2, 3, 4, 5])));
  });

  it('refuses to write what a reader would refuse', () => {
    expect(() => encodeSafetensors([{ name: 'a', dtype: 'F32', shape: [2], data: new Uint8Array(4) }], {})).toThrow(/needs 8/);
    expect(() => encodeSafetensors([sample[0]!, sample[0]!], {})).toThrow(/twice/);
    expect(() => encodeSafetensors([], { n: 1 as unknown as string })).toThrow(/must be a string/);
  });

  it('keeps a tensor named __proto__ an ordinary tensor', () => {
    const bytes = encodeSafetensors([{ name: '__proto__', dtype: 'U8', shape: [1], data: new Uint8Array([9]) }], {});
    expect([...decodeSafetensors(bytes, 'p').tensors.get('__proto__')!.data]).toEqual([9]);
  });

  it('reads a header with tensors listed out of offset order', () => {
    const header = '{"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
    const { tensors } = decodeSafetensors(rawFile(header, new Uint8Array([1, 2, 3])), 'o');
    expect([...tensors.get('a')!.data]).toEqual([1]);
    expect([...tensors.get('b')!.data]).toEqual([2, 3]);
  });
});

const u8 = (name: string, begin: number, end: number, shape = [end - begin]) =>
  `"${name}":{"dtype":"U8","shape":${JSON.stringify(shape)},"data_offsets":[${begin},${end}]}`;

/** Broken files: [what is wrong, bytes, what the message must mention]. */
const broken: [string, Uint8Array, RegExp][] = [
  ['shorter than 8 bytes', new Uint8Array(5), /8-byte header length/],
  ['header over 100 MB', rawFile('{}', new Uint8Array(0), 100_000_001n), /over the 100000000-byte limit/],
  ['header past the end', rawFile('{}', new Uint8Array(0), 64n), /runs past the end/],
  ['header not UTF-8', (() => { const b = rawFile('{"a":1}'); b[10] = 0xff; return b; })(), /UTF-8/],
  ['header not starting with {', rawFile(' {}'), /start with "\{"/],
  ['header not JSON', rawFile('{"a":'), /not valid JSON/],
  ['header an array', rawFile('[]'.padEnd(2)), /start with/],
  ['unknown dtype', rawFile(`{"t":{"dtype":"F12","shape":[1],"data_offsets":[0,1]}}`, new Uint8Array(1)), /tensor "t": unknown dtype/],
  ['negative shape', rawFile(`{${u8('t', 0, 1, [-1])}}`, new Uint8Array(1)), /tensor "t": shape/],
  ['missing data_offsets', rawFile(`{"t":{"dtype":"U8","shape":[1]}}`, new Uint8Array(1)), /tensor "t": data_offsets/],
  ['gap between tensors', rawFile(`{${u8('a', 0, 1)},${u8('b', 2, 3)}}`, new Uint8Array(3)), /tensor "b".*gap/],
  ['overlapping tensors', rawFile(`{${u8('a', 0, 2)},${u8('b', 1, 3)}}`, new Uint8Array(3)), /tensor "b".*overlap/],
  ['end before begin', rawFile(`{${u8('a', 0, 2)},"b":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, new Uint8Array(2)), /tensor "b".*end before/],
  ['size not shape x dtype', rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, new Uint8Array(4)), /tensor "t": shape \[2\] of F32 needs 8 bytes/],
  ['offsets past the end', rawFile(`{${u8('t', 0, 8)}}`, new Uint8Array(4)), /tensor "t".*past the end/],
  ['trailing bytes', rawFile(`{${u8('t', 0, 2)}}`, new Uint8Array(3)), /cover 2 data bytes but the file has 3/],
  ['metadata value not a string', rawFile(`{"__metadata__":{"layers":3}}`), /metadata "layers" is number/],
  ['metadata value nested', rawFile(`{"__metadata__":{"effect":{"a":1}}}`), /metadata "effect" is object/],
  ['metadata not an object', rawFile(`{"__metadata__":"x"}`), /__metadata__/],
  ['float in shape', rawFile(`{"t":{"dtype":"U8","shape":[2.0],"data_offsets":[0,2]}}`, new Uint8Array(2)), /tensor "t": shape must be a list of non-negative integers/],
  ['exponent in offsets', rawFile(`{"t":{"dtype":"U8","shape":[2],"data_offsets":[0,2e0]}}`, new Uint8Array(2)), /tensor "t": data_offsets/],
  ['integer past u64', rawFile(`{"t":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,2]}}`, new Uint8Array(2)), /tensor "t": shape/],
  ['field repeated in a tensor', rawFile(`{"t":{"dtype":"U8","dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, new Uint8Array(2)), /key "dtype" appears twice in "t"/],
  ['__metadata__ repeated', rawFile(`{"__metadata__":{},"__metadata__":{}}`), /key "__metadata__" appears twice in the header/],
  ['NaN in the header', rawFile(`{"t":{"dtype":"U8","shape":[NaN],"data_offsets":[0,2]}}`, new Uint8Array(2)), /not valid JSON/],
];

/** Refused by us, accepted by the Rust reader (which keeps the last entry of a repeated name). */
const stricter: [string, Uint8Array, RegExp][] = [
  ['tensor name repeated', rawFile(`{${u8('t', 0, 2)},${u8('t', 0, 2)}}`, new Uint8Array(2)), /key "t" appears twice in the header/],
  ['metadata key repeated', rawFile(`{"__metadata__":{"id":"a","id":"b"}}`), /key "id" appears twice in "__metadata__"/],
];

describe('decodeSafetensors refuses broken files, naming the file and the tensor or field', () => {
  for (const [what, bytes, message] of [...broken, ...stricter]) {
    it(what, () => {
      let err: unknown;
      try {
        decodeSafetensors(bytes, 'bad.rws.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RwsError);
      expect((err as RwsError).code).toBe('signature-format');
      expect((err as RwsError).message).toMatch(/^bad\.rws\.safetensors: /);
      expect((err as RwsError).message).toMatch(message);
    });
  }
});

const python = existsSync(PYTHON) ? PYTHON : undefined;
if (!python) console.log(`safetensors_check.py comparison skipped: ${PYTHON} not found (set RWS_PYTHON)`);

describe.skipIf(!python)('the Python reader (mirror of the safetensors package) agrees', () => {
  const check = (bytes: Uint8Array, name: string): { ok: true; out: any } | { ok: false; out: string } => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    try {
      return { ok: true, out: JSON.parse(execFileSync(python!, [CHECKER, file], { encoding: 'utf8' })) };
    } catch (e) {
      return { ok: false, out: String((e as { stdout?: string }).stdout ?? e) };
    }
  };

  it('parses our file to the same names, dtypes, shapes, bytes and metadata', () => {
    const bytes = encodeSafetensors(sample, sampleMeta);
    const r = check(bytes, 'good.safetensors');
    expect(r.ok, String(r.out)).toBe(true);
    const ours = decodeSafetensors(bytes, 'good.safetensors');
    const expected = Object.fromEntries(
      [...ours.tensors.entries()].map(([n, t]) => [n, { dtype: t.dtype, shape: t.shape, sha256: createHash('sha256').update(t.data).digest('hex') }]),
    );
    expect(r.out).toEqual({ metadata: ours.metadata, tensors: expected });
  });

  it('rejects every broken file we reject', () => {
    broken.forEach(([what, bytes], i) => {
      const r = check(bytes, `broken-${i}.safetensors`);
      expect(r.ok, `${what}: python accepted it`).toBe(false);
      expect(r.out, what).toMatch(/^ERROR /);
    });
  });

  it('accepts a repeated name, keeping the last (we refuse it: see `stricter`)', () => {
    const r = check(stricter[1]![1], 'repeated.safetensors');
    expect(r).toEqual({ ok: true, out: { metadata: { id: 'b' }, tensors: {} } });
  });
});
