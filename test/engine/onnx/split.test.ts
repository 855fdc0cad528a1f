import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import * as path from 'node:path';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { rawDataOffsets, splitIsIdentity, splitModel, type ModelSplit } from '../../../main/engine/onnx/split.js';
import { RwsError } from '../../../main/core/errors.js';
import { onnxType } from '../../fixtures/onnx-reflect.js';
import { encodeModel, resnet18Like, smallResNet, tinyConvNet, withExternalData, type FixtureModel } from '../../fixtures/models.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const torchSmall = path.join(here, '../../fixtures/torch-small.onnx');

let options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: 'all' };

function input(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.131 + seed) * 0.5 + 0.5);
}

async function runFull(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(bytes, options);
  const out = await s.run(feeds);
  await s.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

async function runSplit(split: ModelSplit, head: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const h = await ort.InferenceSession.create(head, options);
  const headOut = await h.run(Object.fromEntries(h.inputNames.map((n) => [n, feeds[n]])));
  await h.release();
  const result: Record<string, Float32Array> = {};
  for (const o of split.modelOutputs) if (o.part === 'head') result[o.name] = headOut[o.name].data as Float32Array;
  if (split.identity) return result;
  const t = await ort.InferenceSession.create(split.tail, options);
  expect([...t.inputNames].sort()).toEqual([...split.tailInputs].sort());
  const tailOut = await t.run(Object.fromEntries(t.inputNames.map((n) => [n, headOut[n] ?? feeds[n]])));
  await t.release();
  for (const o of split.modelOutputs) if (o.part === 'tail') result[o.name] = tailOut[o.name].data as Float32Array;
  return result;
}

/** Largest difference, relative to the logits' scale (at least 1): fusions differ across a cut. */
function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  if (process.env.RWS_SPLIT_DEBUG) console.log('max diff', m, 'scale', scale);
  return m / scale;
}

function firstLayers(model: OnnxModel, k: number): string[] {
  return model.layers().slice(0, k).flatMap((l) => [l.weight, ...(l.bias ? [l.bias] : []), ...(l.batchNorm ? [l.batchNorm.scale, l.batchNorm.bias, l.batchNorm.mean, l.batchNorm.var] : [])]);
}

async function expectEquivalent(model: OnnxModel, fixture: Pick<FixtureModel, 'input' | 'output'>, patched: string[], batch = 2): Promise<ModelSplit> {
  const split = splitModel(model, patched);
  const shape = [batch, ...fixture.input.shape.slice(1)];
  const feeds = { [fixture.input.name]: new ort.Tensor('float32', input(shape, 1), shape) };
  const full = await runFull(model.encode({ embedExternal: true }), feeds);
  const parts = await runSplit(split, split.headTemplate.bytes(new Map()), feeds);
  expect(maxDiff(parts[fixture.output], full[fixture.output])).toBeLessThanOrEqual(1e-6);
  // Without graph optimisations no fusion differs across the cut: the parts compute the same floats.
  const saved = options;
  options = { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' };
  try {
    const plainFull = await runFull(model.encode({ embedExternal: true }), feeds);
    const plainParts = await runSplit(split, split.headTemplate.bytes(new Map()), feeds);
    expect(Array.from(plainParts[fixture.output])).toEqual(Array.from(plainFull[fixture.output]));
  } finally {
    options = saved;
  }
  // New values through the template give what the full model gives with the same values.
  const moved = new Map(patched.map((name, i) => [name, model.floats(name).map((v, j) => v * 1.1 + ((i + j) % 7) * 1e-3)]));
  const patchedModel = parseOnnx(model.encode({ embedExternal: true }), { file: 'patched.onnx' });
  for (const [name, v] of moved) patchedModel.setFloats(name, v);
  const fullPatched = await runFull(patchedModel.encode(), feeds);
  const partsPatched = await runSplit(split, split.headTemplate.bytes(moved), feeds);
  expect(maxDiff(partsPatched[fixture.output], fullPatched[fixture.output])).toBeLessThanOrEqual(1e-6);
  expect(maxDiff(fullPatched[fixture.output], full[fixture.output])).toBeGreaterThan(1e-4);
  return split;
}

describe('splitModel', () => {
  it('tinyConvNet: the head is conv1+BN+Relu, and head+tail equal the full model', async () => {
    const f = tinyConvNet();
    const m = parseOnnx(f.bytes, { file: 'tiny.onnx' });
    const split = await expectEquivalent(m, f, firstLayers(m, 1));
    expect(split.headNodes).toBe(3);
    expect(split.cut).toEqual(['/relu1/Relu_output_0']);
    expect(split.headOutputs).toEqual(split.cut);
    expect(split.tailInputs).toEqual(split.cut);
    expect(splitIsIdentity(split)).toBe(false);
    // The tail's input carries the inferred shape, so onnxruntime can plan it.
    const tail = parseOnnx(split.tail, { file: 'tail.onnx' });
    expect(tail.inputs).toEqual([{ name: '/relu1/Relu_output_0', elemType: 1, dims: ['batch', 8, 28, 28] }]);
  });

  it('smallResNet: the first three convs, cut after the residual sum', async () => {
    const f = smallResNet();
    const m = parseOnnx(f.bytes, { file: 'small.onnx' });
    const split = await expectEquivalent(m, f, firstLayers(m, 3), 3);
    // The residual Add and its Relu join the head: one tensor crosses instead of two.
    expect(split.cut).toEqual(['/layer1/0/relu2/Relu_output_0']);
    const tail = parseOnnx(split.tail, { file: 'tail.onnx' });
    expect(tail.inputs.find((i) => i.name === '/layer1/0/relu2/Relu_output_0')!.dims).toEqual(['batch', 16, 28, 28]);
  });

  it('resnet18Like: the first three convs', async () => {
    const f = resnet18Like();
    const m = parseOnnx(f.bytes, { file: 'r18.onnx' });
    const split = await expectEquivalent(m, f, firstLayers(m, 3), 1);
    expect(split.headTemplate.byteLength).toBeLessThan(400_000);
    const tail = parseOnnx(split.tail, { file: 'tail.onnx' });
    expect(tail.inputs.map((i) => i.dims)).toEqual([['batch', 64, 56, 56]]);
  });

  it('torch export (folded BN, onnx::Conv_N names): the first two layers', async () => {
    const m = await loadOnnx(torchSmall);
    const split = await expectEquivalent(m, { input: { name: 'input', shape: [1, 1, 28, 28] }, output: 'logits' }, firstLayers(m, 2));
    expect(split.headNodes).toBe(4);
  });

  it('a model with external data splits into self-contained parts', async () => {
    const f = withExternalData();
    const m = await loadOnnx(f.file);
    await expectEquivalent(m, f, firstLayers(m, 2));
  });

  it('an IR 3 model (initializers also listed as inputs) splits and runs', async () => {
    const f = tinyConvNet();
    const proto = onnxType('ModelProto').toObject(onnxType('ModelProto').decode(f.bytes)) as Record<string, any>;
    proto.ir_version = 3;
    proto.opset_import = [{ domain: '', version: 9 }];
    for (const t of proto.graph.initializer) proto.graph.input.push({ name: t.name, type: { tensor_type: { elem_type: 1, shape: { dim: t.dims.map((d: string) => ({ dim_value: Number(d) })) } } } });
    const m = parseOnnx(encodeModel(proto), { file: 'ir3.onnx' });
    const split = await expectEquivalent(m, f, firstLayers(m, 1));
    expect(split.tailInputs).toEqual(split.cut);
  });

  it('patching the last layer makes the head the whole model', async () => {
    const f = tinyConvNet();
    const m = parseOnnx(f.bytes, { file: 'tiny.onnx' });
    const split = await expectEquivalent(m, f, ['/conv1.weight', '/fc.weight']);
    expect(splitIsIdentity(split)).toBe(true);
    expect(split.tail.length).toBe(0);
    expect(split.headNodes).toBe(m.nodes().length);
  });

  it('template bytes with new values decode to the same model as a full re-encode', () => {
    const f = smallResNet();
    const m = parseOnnx(f.bytes, { file: 'small.onnx' });
    const names = firstLayers(m, 3);
    const split = splitModel(m, names);
    const values = new Map(names.map((n) => [n, m.floats(n).map((v) => -v + 0.25)]));
    const fromTemplate = parseOnnx(split.headTemplate.bytes(values), { file: 'template.onnx' });
    const again = parseOnnx(f.bytes, { file: 'again.onnx' });
    for (const [n, v] of values) again.setFloats(n, v);
    const reencoded = parseOnnx(splitModel(again, names).headTemplate.bytes(new Map()), { file: 'reencoded.onnx' });
    expect(Buffer.from(fromTemplate.encode()).equals(Buffer.from(reencoded.encode()))).toBe(true);
    for (const t of reencoded.initializers()) expect(fromTemplate.floats(t.name)).toEqual(reencoded.floats(t.name));
    // The template itself is not changed by a call.
    const base = parseOnnx(split.headTemplate.bytes(new Map()), { file: 'base.onnx' });
    expect(base.floats(names[0])).toEqual(m.floats(names[0]));
    // Patched tensors are the last initializers of the head.
    expect(base.graph.initializer.slice(-names.length).map((t) => t.name).sort()).toEqual([...names].sort());
    expect(rawDataOffsets(split.headTemplate.bytes(new Map()), new Set(names)).size).toBe(names.length);
  });

  it('template bytes hold exactly the values given (property)', () => {
    const m = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
    const split = splitModel(m, ['/conv1.bias', '/bn1.running_mean']);
    fc.assert(
      fc.property(fc.float32Array({ minLength: 8, maxLength: 8, noNaN: true }), fc.boolean(), (values, both) => {
        const given = new Map([['/conv1.bias', values]]);
        if (both) given.set('/bn1.running_mean', values.map((v) => v / 2));
        const head = parseOnnx(split.headTemplate.bytes(given), { file: 'head.onnx' });
        expect(head.floats('/conv1.bias')).toEqual(values);
        expect(head.floats('/bn1.running_mean')).toEqual(both ? values.map((v) => v / 2) : m.floats('/bn1.running_mean'));
        expect(head.floats('/conv1.weight')).toEqual(m.floats('/conv1.weight'));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses unknown or non-float tensors, and wrong value lengths', () => {
    const m = parseOnnx(tinyConvNet().bytes, { file: 'tiny.onnx' });
    expect(() => splitModel(m, ['nope'])).toThrow(RwsError);
    expect(() => splitModel(m, ['nope'])).toThrow(/tiny\.onnx: cannot patch "nope": no initializer/);
    const split = splitModel(m, ['/conv1.weight']);
    expect(() => split.headTemplate.bytes(new Map([['/conv1.weight', new Float32Array(3)]]))).toThrow(/72 values, got 3/);
    expect(() => split.headTemplate.bytes(new Map([['/conv2.weight', new Float32Array(3)]]))).toThrow(/not a patched tensor/);
  });
});
