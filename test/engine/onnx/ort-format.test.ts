import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { parseOnnx } from '../../../main/engine/onnx/model.js';
import { liveOrtBytes, ORT_ALIAS_MIN_BYTES, readOrtGraph } from '../../../main/engine/onnx/ort-format.js';
import { smallResNet } from '../../fixtures/models.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rws-ort-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const fixture = smallResNet();
const model = parseOnnx(fixture.bytes, { file: 'small.onnx' });
const options = { intraOpNumThreads: 1, graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const };

/** The model optimised and saved by onnxruntime itself, and a session of the plain model. */
async function saved(): Promise<{ bytes: Uint8Array; plain: ort.InferenceSession }> {
  const file = path.join(dir, 'small.ort');
  const plain = await ort.InferenceSession.create(fixture.bytes, { ...options, optimizedModelFilePath: file });
  return { bytes: new Uint8Array(readFileSync(file)), plain };
}

const x = new ort.Tensor('float32', Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i * 0.7)), [2, 1, 28, 28]);

describe('readOrtGraph', () => {
  it('finds each initializer with its dims and bytes, and the nodes that read them', async () => {
    const { bytes, plain } = await saved();
    await plain.release();
    const g = readOrtGraph(bytes, 'small.ort');
    // The classifier's Gemm keeps its weight as is: the bytes found must be the model's own values.
    const fc = g.initializers.find((t) => t.name === '/fc.weight')!;
    expect(fc.dims).toEqual([10, 64]);
    expect(fc.dataType).toBe(1);
    expect(fc.byteLength).toBe(10 * 64 * 4);
    expect(Buffer.from(bytes.subarray(fc.offset, fc.offset + fc.byteLength)).equals(Buffer.from(model.floats('/fc.weight').buffer))).toBe(true);
    expect(g.nodes.find((n) => n.inputs.includes('/fc.weight'))).toMatchObject({ opType: 'Gemm', domain: '' });
    // Convs run as NCHWc kernels on weights re-ordered under new names.
    const convs = g.nodes.filter((n) => n.opType === 'Conv');
    expect(convs.length).toBe(model.nodes().filter((n) => n.op_type === 'Conv').length);
    expect(convs.every((n) => n.domain === 'com.microsoft.nchwc')).toBe(true);
    for (const n of convs) expect(g.initializers.some((t) => t.name === n.inputs[1] && t.dims.length === 4)).toBe(true);
    // Every initializer's shape is listed with a place for each dim.
    expect(g.shapes.get('/fc.weight')!.every((at) => at > 0)).toBe(true);
  });

  it('refuses bytes that are not an ORT-format model, naming the file', () => {
    expect(() => readOrtGraph(fixture.bytes, 'model.onnx')).toThrow(/model\.onnx: not an ORT-format model/);
    expect(() => readOrtGraph(new Uint8Array([1, 2]), 'x.ort')).toThrow(/x\.ort/);
  });
});

describe('liveOrtBytes', () => {
  it('moves every initializer onnxruntime reads in place to a 64-byte boundary; a session from them computes the same', async () => {
    const { bytes, plain } = await saved();
    const g = readOrtGraph(bytes);
    const live = liveOrtBytes(bytes, g);
    const again = readOrtGraph(live.bytes);
    for (const t of g.initializers) {
      const now = again.initializers.find((u) => u.name === t.name)!;
      expect(now.byteLength).toBe(t.byteLength);
      if (t.byteLength >= ORT_ALIAS_MIN_BYTES) {
        expect(now.offset % 64).toBe(0);
        expect(now.offset).toBe(live.offsets.get(t.name));
      } else {
        expect(now.offset).toBe(t.offset);
      }
      expect(Buffer.from(live.bytes.subarray(now.offset, now.offset + now.byteLength)).equals(Buffer.from(bytes.subarray(t.offset, t.offset + t.byteLength)))).toBe(true);
    }
    const session = await ort.InferenceSession.create(live.bytes, {
      ...options,
      graphOptimizationLevel: 'disabled',
      extra: { session: { use_ort_model_bytes_directly: '1', use_ort_model_bytes_for_initializers: '1' } },
    });
    const a = (await plain.run({ input: x })).logits!.data as Float32Array;
    const b = (await session.run({ input: x })).logits!.data as Float32Array;
    expect(b).toEqual(a);
    await Promise.all([plain.release(), session.release()]);
  });

  it('widens a small bias to the given length, zero-padded, with its listed shape to match', async () => {
    const { bytes, plain } = await saved();
    await plain.release();
    const g = readOrtGraph(bytes);
    const small = g.initializers.find((t) => t.byteLength < ORT_ALIAS_MIN_BYTES && t.dims.length === 1)!;
    const n = small.dims[0]!;
    const live = liveOrtBytes(bytes, g, new Map([[small.name, 32]]));
    const again = readOrtGraph(live.bytes);
    const wide = again.initializers.find((t) => t.name === small.name)!;
    expect(wide.dims).toEqual([32]);
    expect(wide.byteLength).toBe(128);
    expect(wide.offset % 64).toBe(0);
    const values = new Float32Array(live.bytes.buffer, wide.offset, 32);
    expect(Array.from(values.subarray(n))).toEqual(new Array(32 - n).fill(0));
    expect(Buffer.from(values.buffer, wide.offset, n * 4).equals(Buffer.from(bytes.subarray(small.offset, small.offset + small.byteLength)))).toBe(true);
    const shape = again.shapes.get(small.name)!;
    expect(Number(new DataView(live.bytes.buffer).getBigInt64(shape[0]!, true))).toBe(32);
  });
});
