import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { loadOnnx, parseOnnx } from '../../../main/engine/onnx/model.js';
import { onnxType } from '../../fixtures/onnx-reflect.js';
import { hashTensor } from '../../../main/engine/signatures/tensor-hash.js';
import { RwsError } from '../../../main/core/errors.js';
import fc from 'fast-check';
import { GraphBuilder, smallResNet, tinyConvNet, withExternalData, encodeModel } from '../../fixtures/models.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const torchSmall = path.join(here, '../../fixtures/torch-small.onnx');

async function logits(bytes: Uint8Array, input: string, shape: number[], data: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  const out = await session.run({ [input]: new ort.Tensor('float32', data, shape) });
  const values = out[session.outputNames[0]].data as Float32Array;
  await session.release();
  return values;
}

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.5 + 0.5);
}

describe('parseOnnx / encode', () => {
  it('round-trips a model: decode(encode(m)) equals m and the bytes are stable', () => {
    const fixture = tinyConvNet();
    const m = parseOnnx(fixture.bytes, { file: 'tiny.onnx' });
    const once = m.encode();
    const again = parseOnnx(once, { file: 'again.onnx' });
    const ModelProto = onnxType('ModelProto');
    expect(ModelProto.toObject(again.proto as never, { longs: String, bytes: String })).toEqual(ModelProto.toObject(m.proto as never, { longs: String, bytes: String }));
    expect(Buffer.from(again.encode()).equals(Buffer.from(once))).toBe(true);
    expect(Buffer.from(once).equals(Buffer.from(fixture.bytes))).toBe(true);
  });

  it('keeps fields it does not use (doc strings, metadata, value_info, opsets)', () => {
    const proto = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(tinyConvNet().bytes)) as Record<string, any>;
    proto.doc_string = 'a doc';
    proto.metadata_props = [{ key: 'k', value: 'v' }];
    proto.opset_import.push({ domain: 'com.microsoft', version: 1 });
    proto.graph.value_info = [{ name: '/relu1/Relu_output_0', type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_param: 'batch' }, { dim_value: 8 }] } } } }];
    proto.graph.node[0].doc_string = 'node doc';
    proto.graph.node[0].metadata_props = [{ key: 'a', value: 'b' }];
    proto.graph.initializer[0].doc_string = 'weights';
    const bytes = encodeModel(proto);
    const back = parseOnnx(parseOnnx(bytes, { file: 'x.onnx' }).encode(), { file: 'y.onnx' });
    expect(Buffer.from(back.encode()).equals(Buffer.from(bytes))).toBe(true);
    const p = back.proto as any;
    expect(p.doc_string).toBe('a doc');
    expect(p.metadata_props[0].value).toBe('v');
    expect(p.graph.node[0].metadata_props[0].key).toBe('a');
    expect(p.graph.value_info[0].type.tensor_type.shape.dim[1].dim_value.toString()).toBe('8');
  });

  it('reports inputs and outputs with symbolic dims', () => {
    const m = parseOnnx(smallResNet().bytes, { file: 'small.onnx' });
    expect(m.inputs).toEqual([{ name: 'input', elemType: 1, dims: ['batch', 1, 28, 28] }]);
    expect(m.outputs).toEqual([{ name: 'logits', elemType: 1, dims: ['batch', 10] }]);
  });

  it('setFloats changes what onnxruntime computes, and reads back exactly', async () => {
    const fixture = tinyConvNet();
    const m = parseOnnx(fixture.bytes, { file: 'tiny.onnx' });
    const x = ramp(28 * 28);
    const before = await logits(m.encode(), 'input', fixture.input.shape, x);
    const w = m.floats('/fc.bias');
    const moved = w.map((v, i) => v + (i === 3 ? 1 : 0));
    m.setFloats('/fc.bias', moved);
    expect(m.floats('/fc.bias')).toEqual(moved);
    const after = await logits(m.encode(), 'input', fixture.input.shape, x);
    for (let i = 0; i < 10; i++) expect(after[i] - before[i]).toBeCloseTo(i === 3 ? 1 : 0, 5);
    expect(() => m.setFloats('/fc.bias', new Float32Array(3))).toThrow(/fc\.bias.*10 values, got 3/);
    expect(() => m.floats('nope')).toThrow(/tiny\.onnx: no initializer named "nope"/);
  });

  it('reads float_data, float16 and double storage as f32, with the same hash as raw f32', () => {
    const proto = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(tinyConvNet().bytes)) as Record<string, any>;
    const ref = parseOnnx(tinyConvNet().bytes, { file: 'ref.onnx' });
    const inits = proto.graph.initializer;
    const fc = inits.find((t: any) => t.name === '/fc.bias');
    const values = ref.floats('/fc.bias');
    delete fc.raw_data;
    fc.float_data = Array.from(values);
    const half = inits.find((t: any) => t.name === '/bn1.bias');
    half.data_type = 10;
    half.raw_data = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7bff, 0, 0x8000, 0x3800]).buffer);
    const dbl = inits.find((t: any) => t.name === '/bn2.bias');
    const dvalues = ref.floats('/bn2.bias');
    dbl.data_type = 11;
    delete dbl.raw_data;
    dbl.double_data = Array.from(dvalues);
    const m = parseOnnx(encodeModel(proto), { file: 'typed.onnx' });
    expect(m.floats('/fc.bias')).toEqual(values);
    expect(hashTensor(m.floats('/fc.bias'))).toBe(hashTensor(values));
    expect(Array.from(m.floats('/bn1.bias'))).toEqual([1, -2, Math.fround(0.333251953125), 2 ** -24, 65504, 0, -0, 0.5]);
    expect(m.floats('/bn2.bias')).toEqual(dvalues);
    // Writing back keeps each tensor's own type.
    m.setFloats('/bn1.bias', Float32Array.from([1, -2, 0.5, 0.25, 3, 0, 100, 0.125]));
    const again = parseOnnx(m.encode(), { file: 'typed2.onnx' });
    expect(again.tensor('/bn1.bias').data_type).toBe(10);
    expect(Array.from(again.floats('/bn1.bias'))).toEqual([1, -2, 0.5, 0.25, 3, 0, 100, 0.125]);
  });
});

describe('hashTensor', () => {
  it('is the SHA-256 of the little-endian f32 bytes', () => {
    expect(hashTensor(new Float32Array([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // 1.0f = 00 00 80 3f
    expect(hashTensor(new Float32Array([1]))).toBe(hashTensor(new Float32Array(new Uint8Array([0, 0, 0x80, 0x3f]).buffer)));
    const big = new Float32Array(10).fill(2);
    expect(hashTensor(big.subarray(2, 4))).toBe(hashTensor(new Float32Array([2, 2])));
  });
});

describe('external data', () => {
  it('loads weights from the .bin next to the model, and embeds them on request', async () => {
    const fixture = withExternalData();
    const m = await loadOnnx(fixture.file);
    const ref = parseOnnx(tinyConvNet().bytes, { file: 'ref.onnx' });
    for (const t of ref.initializers()) expect(m.floats(t.name)).toEqual(ref.floats(t.name));
    expect(m.layers().map((l) => l.weight)).toEqual(ref.layers().map((l) => l.weight));
    const sync = parseOnnx(readFileSync(fixture.file), { file: fixture.file, dir: fixture.dir });
    expect(sync.floats('/conv2.weight')).toEqual(ref.floats('/conv2.weight'));
    // Embedded, the model runs from bytes and equals the inline model.
    const x = ramp(28 * 28);
    const a = await logits(m.encode({ embedExternal: true }), 'input', fixture.input.shape, x);
    const b = await logits(ref.encode(), 'input', fixture.input.shape, x);
    expect(Array.from(a)).toEqual(Array.from(b));
    // Not embedded, the references stay.
    expect(parseOnnx(m.encode(), { file: 'x.onnx' }).tensor('/conv1.weight').data_location).toBe(1);
  });

  it('refuses external data that leaves the model folder, or is missing or short', async () => {
    const fixture = withExternalData();
    const proto = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(fixture.bytes)) as Record<string, any>;
    const dir = mkdtempSync(path.join(tmpdir(), 'rws-ext-bad-'));
    const write = (location: string, length?: number) => {
      const p = structuredClone(proto);
      const entry = p.graph.initializer[0].external_data;
      entry[0].value = location;
      if (length !== undefined) entry[2].value = String(length);
      const file = path.join(dir, 'm.onnx');
      writeFileSync(file, encodeModel(p));
      return file;
    };
    await expect(loadOnnx(write('../weights.bin'))).rejects.toThrow(/m\.onnx: initializer "\/conv1\.weight": external data location "\.\.\/weights\.bin" leaves the model's folder/);
    await expect(loadOnnx(write('/etc/passwd'))).rejects.toThrow(/leaves the model's folder/);
    await expect(loadOnnx(write('missing.bin'))).rejects.toThrow(/missing\.bin: cannot read external data of initializer "\/conv1\.weight" of .*m\.onnx \(ENOENT\)/);
    copyFileSync(fixture.dataFile, path.join(dir, 'w.bin'));
    await expect(loadOnnx(write('w.bin', 10_000_000))).rejects.toThrow(/external data "w\.bin" is truncated/);
    if (process.platform !== 'win32') {
      // A name inside the folder that is a link out of it, a FIFO, or a device: refused without reading.
      symlinkSync(fixture.dataFile, path.join(dir, 'out.bin'));
      await expect(loadOnnx(write('out.bin'))).rejects.toThrow(/out\.bin: refused as external data of initializer "\/conv1\.weight" of .*m\.onnx: it is a symbolic link that leads outside the model's folder/);
      expect(() => parseOnnx(readFileSync(write('out.bin')), { file: 'm.onnx', dir })).toThrow(/it is a symbolic link that leads outside the model's folder/);
      execFileSync('mkfifo', [path.join(dir, 'pipe.bin')]);
      await expect(loadOnnx(write('pipe.bin'))).rejects.toThrow(/pipe\.bin: refused as external data .*: it is a FIFO \(named pipe\), not a regular file/);
      expect(() => parseOnnx(readFileSync(write('pipe.bin')), { file: 'm.onnx', dir })).toThrow(/it is a FIFO/);
    }
    expect(() => parseOnnx(fixture.bytes, { file: 'nodir.onnx' }).floats('/fc.bias')).toThrow(/nodir\.onnx: initializer "\/fc\.bias" is stored externally .*load the model from its file/);
  });
});

describe('errors', () => {
  it('names the file for garbage, truncated, empty and missing files', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rws-bad-'));
    const bytes = tinyConvNet().bytes;
    const cases: [string, Uint8Array][] = [
      ['garbage.onnx', new TextEncoder().encode('{"this is": "json, not onnx"}')],
      ['truncated.onnx', bytes.subarray(0, Math.floor(bytes.length * 0.6))],
      ['empty.onnx', new Uint8Array()],
      ['random.onnx', Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)],
    ];
    for (const [name, data] of cases) {
      const file = path.join(dir, name);
      writeFileSync(file, data);
      const err = await loadOnnx(file).catch((e) => e);
      expect(err).toBeInstanceOf(RwsError);
      expect(err.code).toBe('onnx-format');
      expect(err.message.startsWith(`${file}: `)).toBe(true);
    }
    const missing = await loadOnnx(path.join(dir, 'none.onnx')).catch((e) => e);
    expect(missing.code).toBe('onnx-read');
    expect(missing.message).toMatch(/none\.onnx: cannot read the model \(ENOENT\)/);
  });
});

describe('layers', () => {
  it('finds conv/gemm layers with their unfolded BatchNorm and channel axes', () => {
    const m = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
    const layers = m.layers();
    expect(layers.map((l) => [l.op, l.weight, l.bias, l.channelAxis])).toEqual([
      ['Conv', '/conv1.weight', '/conv1.bias', 0],
      ['Conv', '/conv2.weight', '/conv2.bias', 0],
      ['Gemm', '/fc.weight', '/fc.bias', 0],
    ]);
    expect(layers[0].batchNorm).toEqual({ scale: '/bn1.weight', bias: '/bn1.bias', mean: '/bn1.running_mean', var: '/bn1.running_var', node: '/bn1/BatchNormalization' });
    expect(layers[2].batchNorm).toBeUndefined();
  });

  it('gives layers in topological order when initializers, or nodes, are out of order in the file', () => {
    const decode = () => onnxType('ModelProto').toObject(onnxType('ModelProto').decode(smallResNet().bytes)) as Record<string, any>;
    const expected = parseOnnx(smallResNet().bytes, { file: 's.onnx' }).layers().map((l) => l.weight);
    const proto = decode();
    proto.graph.initializer.reverse();
    const m = parseOnnx(encodeModel(proto), { file: 'shuffled.onnx' });
    expect(m.layers().map((l) => l.weight)).toEqual(expected);
    expect(m.initializers()[0].name).toBe('/stem.weight');
    expect(m.initializers()[0].consumers).toEqual([{ node: '/stem/Conv', op: 'Conv', inputIndex: 1, nodeIndex: 0 }]);
    // Nodes reversed: any order is fine as long as every layer comes after what it reads.
    const reversed = decode();
    reversed.graph.node.reverse();
    const r = parseOnnx(encodeModel(reversed), { file: 'reversed.onnx' });
    const order = r.nodes();
    const seen = new Set(['input']);
    for (const n of order) {
      for (const i of n.input) expect(seen.has(i) || r.hasInitializer(i)).toBe(true);
      n.output.forEach((o) => seen.add(o));
    }
    expect(new Set(r.layers().map((l) => l.weight))).toEqual(new Set(expected));
    expect(r.layers()[0].weight).toBe('/stem.weight');
    expect(r.layers().at(-1)!.weight).toBe('/fc.weight');
  });

  it('on the torch export, layers follow the graph although initializers are out of order', async () => {
    const expected = JSON.parse(readFileSync(torchSmall.replace(/\.onnx$/, '.expected.json'), 'utf8'));
    const m = await loadOnnx(torchSmall);
    const layers = m.layers();
    expect(layers.map((l) => l.weight)).toEqual(expected.layers.map((l: { weight: string }) => l.weight));
    expect(layers.map((l) => l.op)).toEqual(expected.layers.map((l: { op: string }) => l.op));
    expect(layers.every((l) => l.weight.startsWith('onnx::') || l.op === 'Gemm')).toBe(true);
    const fileOrder = m.graph.initializer.map((t) => t.name);
    expect(m.initializers().map((t) => t.name)).not.toEqual(fileOrder);
    // Our loading gives torch's logits for the recorded input.
    const out = await logits(m.encode(), expected.input.name, expected.input.shape, Float32Array.from(expected.input.data));
    expected.logits.forEach((v: number, i: number) => expect(Math.abs(out[i] - v)).toBeLessThan(1e-5));
  });
});

describe('layers: channel axes of other layer kinds', () => {
  it('ConvTranspose is axis 1, Gemm transB=0 axis 1, MatMul axis 1 with its Add bias', () => {
    const g = new GraphBuilder(5);
    let x = g.node('ConvTranspose', ['input', g.weight('up.weight', [1, 4, 2, 2], g.uniform(16, 0.5)), g.weight('up.bias', [4], g.uniform(4, 0.1))], { strides: [2, 2] }, '/up/ConvTranspose');
    x = g.node('GlobalAveragePool', [x], {}, '/gap');
    x = g.node('Flatten', [x], { axis: 1 }, '/flatten');
    x = g.node('Gemm', [x, g.weight('fc1.weight', [4, 6], g.uniform(24, 0.5)), g.weight('fc1.bias', [6], g.uniform(6, 0.1))], { transB: 0 }, '/fc1/Gemm');
    x = g.node('MatMul', [x, g.weight('fc2.weight', [6, 3], g.uniform(18, 0.5))], {}, '/fc2/MatMul');
    g.node('Add', [x, g.weight('fc2.bias', [3], g.uniform(3, 0.1))], {}, '/fc2/Add');
    const m = parseOnnx(encodeModel(g.model({ name: 'input', shape: [1, 1, 4, 4] }, { name: 'out', shape: [1, 3] })), { file: 'kinds.onnx' });
    expect(m.layers().map((l) => [l.op, l.weight, l.bias, l.channelAxis])).toEqual([
      ['ConvTranspose', 'up.weight', 'up.bias', 1],
      ['Gemm', 'fc1.weight', 'fc1.bias', 1],
      ['MatMul', 'fc2.weight', 'fc2.bias', 1],
    ]);
  });
});

describe('setFloats / floats (property)', () => {
  it('any f32 values written read back bit for bit, through encode and parse', () => {
    const m = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
    fc.assert(
      fc.property(fc.float32Array({ minLength: 10, maxLength: 10, noDefaultInfinity: false }), (values) => {
        m.setFloats('/fc.bias', values);
        const back = parseOnnx(m.encode(), { file: 'back.onnx' }).floats('/fc.bias');
        expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(Float32Array.from(values).buffer));
        expect(hashTensor(back)).toBe(hashTensor(Float32Array.from(values)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('older IR versions', () => {
  it('does not count initializers listed as graph inputs (IR < 4) as model inputs', async () => {
    const proto = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(tinyConvNet().bytes)) as Record<string, any>;
    proto.ir_version = 3;
    proto.opset_import = [{ domain: '', version: 9 }];
    for (const t of proto.graph.initializer) proto.graph.input.push({ name: t.name, type: { tensor_type: { elem_type: 1, shape: { dim: t.dims.map((d: string) => ({ dim_value: Number(d) })) } } } });
    const m = parseOnnx(encodeModel(proto), { file: 'ir3.onnx' });
    expect(m.inputs.map((i) => i.name)).toEqual(['input']);
    expect(m.layers().length).toBe(3);
  });
});
