import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RwsError } from '../../main/core/errors.js';
import { fromFloat16Bits, toFloat16Bits } from '../../main/core/float16.js';
import { decodeSafetensors, encodeSafetensors } from '../../main/core/safetensors.js';
import { decodeSignature, encodeSignature, parseSeverity } from '../../main/core/signature-codec.js';
import type { Quantization, Signature } from '../../main/core/signature.js';

function seeded(n: number, seed: number, scale = 0.01): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale * (1 + (i % 7));
  }
  return out;
}

const sig: Signature = {
  meta: {
    format: 'rws/1',
    id: 'fog',
    condition: 'fog',
    severity: [1, 5],
    method: 'projected',
    layers: 3,
    quant: 'f32',
    baseHashes: { 'onnx::Conv_193': 'a'.repeat(64), 'conv1.weight': 'b'.repeat(64) },
    batchNorm: 'folded',
    baseModel: 'resnet-fmnist',
    effect: { clean: 0.91, robust: 0.85, patched: 0.83 },
    energyShare: 0.97,
    description: 'fog, severities 1-5',
  },
  tensors: [
    { name: 'conv1.weight', shape: [8, 1, 3, 3], values: seeded(72, 1), channelAxis: 0, mode: 'add' },
    { name: 'onnx::Conv_193', shape: [8], values: seeded(8, 2), channelAxis: 0, mode: 'add' },
    { name: 'deconv.weight', shape: [4, 6, 3], values: seeded(72, 3), channelAxis: 1, mode: 'add' },
    { name: 'bn.running_var', shape: [5], values: seeded(5, 4), channelAxis: 0, mode: 'log' },
    { name: 'odd', shape: [3, 3], values: seeded(9, 5, 2), channelAxis: 0, mode: 'add' },
  ],
};

function channelScale(values: Float32Array, shape: number[], axis: number, qmax: number): (i: number) => number {
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const max = new Array<number>(shape[axis]!).fill(0);
  const ch = (i: number) => Math.floor(i / inner) % shape[axis]!;
  values.forEach((x, i) => (max[ch(i)] = Math.max(max[ch(i)]!, Math.abs(x))));
  return (i) => Math.fround(max[ch(i)]! / qmax);
}

describe('encodeSignature / decodeSignature', () => {
  for (const quant of ['f32', 'f16', 'int8', 'int4'] as Quantization[]) {
    it(`round-trips a signature stored as ${quant}`, () => {
      const bytes = encodeSignature(sig, quant);
      const back = decodeSignature(bytes, 'fog.rws.safetensors');
      expect(back.meta).toEqual({ ...sig.meta, quant });
      expect(back.tensors.map((t) => [t.name, t.shape, t.channelAxis, t.mode])).toEqual(sig.tensors.map((t) => [t.name, t.shape, t.channelAxis, t.mode]));
      back.tensors.forEach((t, k) => {
        const orig = sig.tensors[k]!;
        expect(t.values).toBeInstanceOf(Float32Array);
        expect(t.values.length).toBe(orig.values.length);
        const rank1 = orig.shape.length < 2;
        if (quant === 'f32' || (rank1 && quant !== 'f16')) expect(t.values).toEqual(orig.values);
        else if (quant === 'f16') orig.values.forEach((x, i) => expect(t.values[i]).toBe(fromFloat16Bits(toFloat16Bits(x))));
        else {
          const qmax = quant === 'int8' ? 127 : 7;
          const scale = channelScale(orig.values, orig.shape, orig.channelAxis, qmax);
          orig.values.forEach((x, i) => expect(Math.abs(t.values[i]! - x)).toBeLessThanOrEqual(scale(i) / 2 + Math.abs(x) * 2 ** -22));
        }
      });
    });
  }

  it('stores quantized tensors as NAME (+ NAME.scale), int4 packed in U8, 1-D tensors as F32', () => {
    const i8 = decodeSafetensors(encodeSignature(sig, 'int8'), 'x').tensors;
    expect([...i8.keys()]).toEqual(['conv1.weight', 'conv1.weight.scale', 'onnx::Conv_193', 'deconv.weight', 'deconv.weight.scale', 'bn.running_var', 'odd', 'odd.scale']);
    expect(i8.get('conv1.weight')).toMatchObject({ dtype: 'I8', shape: [8, 1, 3, 3] });
    expect(i8.get('conv1.weight.scale')).toMatchObject({ dtype: 'F32', shape: [8] });
    expect(i8.get('deconv.weight.scale')).toMatchObject({ dtype: 'F32', shape: [6] });
    expect(i8.get('onnx::Conv_193')).toMatchObject({ dtype: 'F32', shape: [8] });
    const i4 = decodeSafetensors(encodeSignature(sig, 'int4'), 'x');
    expect(i4.tensors.get('odd')).toMatchObject({ dtype: 'U8', shape: [5] });
    expect(i4.tensors.get('conv1.weight')).toMatchObject({ dtype: 'U8', shape: [36] });
    expect(decodeSafetensors(encodeSignature(sig, 'f16'), 'x').tensors.get('odd')).toMatchObject({ dtype: 'F16', shape: [3, 3] });
    const meta = i4.metadata;
    expect(meta).toMatchObject({ format: 'rws/1', id: 'fog', severity: '1-5', method: 'projected', layers: '3', quant: 'int4', batch_norm: 'folded', energy_share: '0.97' });
    expect(JSON.parse(meta.tensors!)['odd']).toEqual({ shape: [3, 3], channel_axis: 0, mode: 'add', quant: 'int4' });
    expect(JSON.parse(meta.base_sha256!)).toEqual(sig.meta.baseHashes);
    expect(Object.values(meta).every((v) => typeof v === 'string')).toBe(true);
  });

  it('is deterministic and int8 is about 4x smaller than f32 for conv weights', () => {
    expect(encodeSignature(sig, 'int8')).toEqual(encodeSignature(sig, 'int8'));
    const big: Signature = { ...sig, tensors: [{ name: 'w', shape: [64, 3, 7, 7], values: seeded(64 * 147, 9), channelAxis: 0, mode: 'add' }] };
    const f32 = encodeSignature(big, 'f32').length;
    expect(f32 / encodeSignature(big, 'int8').length).toBeGreaterThan(3.5);
    expect(f32 / encodeSignature(big, 'int4').length).toBeGreaterThan(6.5);
  });

  it('round-trips any tensor set through every quantization (property)', () => {
    const t = fc
      .array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 })
      .chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.record({
          shape: fc.constant(shape),
          channelAxis: fc.integer({ min: 0, max: shape.length - 1 }),
          mode: fc.constantFrom('add' as const, 'log' as const),
          values: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -100, max: 100 }), { minLength: n, maxLength: n }).map((v) => Float32Array.from(v)),
        });
      });
    fc.assert(
      fc.property(fc.array(t, { minLength: 1, maxLength: 4 }), fc.constantFrom<Quantization>('f32', 'f16', 'int8', 'int4'), (ts, quant) => {
        const s: Signature = { meta: sig.meta, tensors: ts.map((x, i) => ({ ...x, name: `t${i}` })) };
        const back = decodeSignature(encodeSignature(s, quant), 'p');
        expect(back.tensors.map((x) => x.name)).toEqual(s.tensors.map((x) => x.name));
        back.tensors.forEach((x, k) => {
          const o = s.tensors[k]!;
          expect(x.shape).toEqual(o.shape);
          if (quant === 'f32') expect(x.values).toEqual(o.values);
          // a second encode/decode of decoded values is lossless: the codec is idempotent
          const again = decodeSignature(encodeSignature({ meta: s.meta, tensors: [x] }, quant), 'p2').tensors[0]!;
          if (quant !== 'int4' && quant !== 'int8') expect(again.values).toEqual(x.values);
        });
      }),
      { numRuns: 300 },
    );
  });
});

/** Re-encode a valid signature file with its metadata edited. */
function withMeta(edit: (m: Record<string, string>) => void, quant: Quantization = 'int8'): Uint8Array {
  const { metadata, tensors } = decodeSafetensors(encodeSignature(sig, quant), 'x');
  edit(metadata);
  return encodeSafetensors([...tensors].map(([name, t]) => ({ name, ...t })), metadata);
}
function withTensors(edit: (t: { name: string; dtype: any; shape: number[]; data: Uint8Array }[]) => void): Uint8Array {
  const { metadata, tensors } = decodeSafetensors(encodeSignature(sig, 'int8'), 'x');
  const list = [...tensors].map(([name, t]) => ({ name, ...t }));
  edit(list);
  return encodeSafetensors(list, metadata);
}

describe('decodeSignature refuses files that are not good signatures, naming the field', () => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    ['no format', withMeta((m) => delete m.format), 'format', /lacks "format"/],
    ['a future format', withMeta((m) => (m.format = 'rws/2')), 'format', /"rws\/2"; this version reads rws\/1/],
    ['no id', withMeta((m) => delete m.id), 'id', /lacks "id"/],
    ['no tensors list', withMeta((m) => delete m.tensors), 'tensors', /lacks "tensors"/],
    ['bad severity', withMeta((m) => (m.severity = 'strong')), 'severity', /"severity" is "strong"/],
    ['bad method', withMeta((m) => (m.method = 'magic')), 'method', /"method" is "magic", expected one of projected, plain, finetune/],
    ['bad quant', withMeta((m) => (m.quant = 'int3')), 'quant', /"quant" is "int3"/],
    ['bad layers', withMeta((m) => (m.layers = '2.5')), 'layers', /"layers" is "2.5"/],
    ['hashes not JSON', withMeta((m) => (m.base_sha256 = '{oops')), 'base_sha256', /not valid JSON/],
    ['hash not hex', withMeta((m) => (m.base_sha256 = '{"a":"xyz"}')), 'base_sha256', /"a" is not a lower-case SHA-256/],
    ['bad batch_norm', withMeta((m) => (m.batch_norm = 'yes')), 'batch_norm', /"batch_norm"/],
    ['effect not an object', withMeta((m) => (m.effect = '[1]')), 'effect', /"effect" must be a JSON object/],
    ['tensor entry without mode', withMeta((m) => (m.tensors = JSON.stringify({ ...JSON.parse(m.tensors!), odd: { shape: [3, 3], channel_axis: 0 } }))), 'tensors.odd', /tensor "odd": "mode"/],
    ['channel axis out of range', withMeta((m) => (m.tensors = JSON.stringify({ ...JSON.parse(m.tensors!), odd: { shape: [3, 3], channel_axis: 2, mode: 'add' } }))), 'tensors.odd', /"channel_axis" 2/],
    ['listed tensor missing', withTensors((l) => l.splice(l.findIndex((t) => t.name === 'odd'), 2)), 'odd', /"odd" is listed in metadata "tensors" but missing/],
    ['scale missing', withTensors((l) => l.splice(l.findIndex((t) => t.name === 'odd.scale'), 1)), 'odd.scale', /"odd.scale" is missing/],
    ['unlisted tensor', withTensors((l) => l.push({ name: 'extra', dtype: 'F32', shape: [1], data: new Uint8Array(4) })), 'extra', /"extra" is not listed/],
    ['wrong stored shape', withTensors((l) => (l.find((t) => t.name === 'odd')!.shape = [9])), 'odd', /has shape \[9\], expected \[3, 3\]/],
    ['wrong dtype', withTensors((l) => (l.find((t) => t.name === 'odd')!.dtype = 'U8')), 'odd', /stored as U8 but metadata "tensors" says int8/],
    ['NaN value', withTensors((l) => l.find((t) => t.name === 'onnx::Conv_193')!.data.set([0, 0, 0xc0, 0x7f], 0)), 'onnx::Conv_193', /value NaN at index 0/],
    ['negative scale', withTensors((l) => l.find((t) => t.name === 'odd.scale')!.data.set([0, 0, 0x80, 0xbf], 0)), 'odd.scale', /scale -1 of channel 0/],
  ];
  for (const [what, bytes, field, message] of cases) {
    it(what, () => {
      let err: unknown;
      try {
        decodeSignature(bytes, 'fog.rws.safetensors');
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(RwsError);
      expect((err as RwsError).message).toMatch(/^fog\.rws\.safetensors: /);
      expect((err as RwsError).message).toMatch(message);
      expect((err as RwsError).field).toBe(field);
      expect((err as RwsError).file).toBe('fog.rws.safetensors');
    });
  }

  it('refuses a plain safetensors file as not a signature', () => {
    expect(() => decodeSignature(encodeSafetensors([], {}), 'model.safetensors')).toThrow(/model\.safetensors: metadata lacks "format"/);
  });
});

describe('decodeSignature refuses values a patch would overflow with', () => {
  it('names the file and the tensor for a delta of float32 size (a scale of float32 max)', () => {
    for (const quant of ['f32', 'int8'] as Quantization[]) {
      const huge: Signature = { meta: sig.meta, tensors: [{ ...sig.tensors[0]!, values: new Float32Array(72).fill(3.4028234663852886e38) }] };
      expect(() => decodeSignature(encodeSignature(huge, quant), 'fog.rws.safetensors'), quant).toThrow(
        /^fog\.rws\.safetensors: tensor "conv1\.weight": value 3\.40282\d*e\+38 at index 0 is beyond ±1000000, the most a delta may hold/,
      );
    }
  });
});

describe('encodeSignature refuses what it could not store faithfully', () => {
  const one = (t: Partial<Signature['tensors'][0]>): Signature => ({ meta: sig.meta, tensors: [{ name: 'w', shape: [2, 2], values: new Float32Array(4), channelAxis: 0, mode: 'add', ...t }] });
  it('names the tensor', () => {
    expect(() => encodeSignature(one({ values: new Float32Array(3) }), 'f32')).toThrow(/tensor "w": 3 values for shape \[2, 2\]/);
    expect(() => encodeSignature(one({ values: Float32Array.from([1, NaN, 0, 0]) }), 'f32')).toThrow(/tensor "w": value NaN at index 1/);
    expect(() => encodeSignature(one({ values: Float32Array.from([1e6, 0, 0, 0]) }), 'f16')).toThrow(/too large for f16/);
    expect(() => encodeSignature(one({ channelAxis: 2 }), 'int8')).toThrow(/channel axis 2/);
    const clash: Signature = { meta: sig.meta, tensors: [one({}).tensors[0]!, { name: 'w.scale', shape: [2, 2], values: new Float32Array(4), channelAxis: 0, mode: 'add' }] };
    expect(() => encodeSignature(clash, 'int8')).toThrow(/"w.scale", which is also a tensor/);
    expect(encodeSignature(clash, 'f32').length).toBeGreaterThan(0);
  });
});

describe('parseSeverity', () => {
  it('reads ranges, single levels and JSON', () => {
    expect(parseSeverity('1-5')).toEqual([1, 5]);
    expect(parseSeverity(' 3 ')).toEqual([3, 3]);
    expect(parseSeverity('[0.5, 2]')).toEqual([0.5, 2]);
    expect(parseSeverity('5-1')).toBeUndefined();
    expect(parseSeverity('high')).toBeUndefined();
  });
});

describe('Python reads our signature files', () => {
  it('parses every quantization with the strict reader (skipped without python3)', async () => {
    const { existsSync, mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { execFileSync } = await import('node:child_process');
    const path = await import('node:path');
    const os = await import('node:os');
    const python = process.env.RWS_PYTHON ?? '/usr/bin/python3';
    if (!existsSync(python)) {
      console.log(`skipped: ${python} not found (set RWS_PYTHON)`);
      return;
    }
    const checker = path.join(path.dirname(new URL(import.meta.url).pathname), 'safetensors_check.py');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rws-sig-'));
    try {
      for (const quant of ['f32', 'f16', 'int8', 'int4'] as Quantization[]) {
        const file = path.join(dir, `fog-${quant}.rws.safetensors`);
        const bytes = encodeSignature(sig, quant);
        writeFileSync(file, bytes);
        const out = JSON.parse(execFileSync(python, [checker, file], { encoding: 'utf8' }));
        expect(out.metadata).toEqual(decodeSafetensors(bytes, file).metadata);
        expect(JSON.parse(out.metadata.tensors).odd.shape).toEqual([3, 3]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('decodeSignature on damaged files', () => {
  it('either decodes or throws an RwsError naming the file, never anything else (fuzz)', () => {
    const files = (['f32', 'f16', 'int8', 'int4'] as Quantization[]).map((q) => encodeSignature(sig, q));
    const headerEnd = (b: Uint8Array) => 8 + Number(new DataView(b.buffer, b.byteOffset).getBigUint64(0, true));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 255 }), fc.boolean()), { minLength: 1, maxLength: 4 }),
        fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
        (which, edits, cut) => {
          let b = files[which]!.slice();
          const end = headerEnd(files[which]!);
          // Mostly hit the header (where the structure is), sometimes the data.
          for (const [at, byte, inHeader] of edits) b[inHeader ? 8 + Math.floor(at * (end - 8)) : Math.floor(at * b.length)] = byte;
          if (cut !== undefined) b = b.subarray(0, Math.floor(cut * b.length));
          try {
            decodeSignature(b, 'damaged.rws.safetensors');
          } catch (e) {
            expect(e).toBeInstanceOf(RwsError);
            expect((e as RwsError).message.startsWith('damaged.rws.safetensors: ')).toBe(true);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});
