// The training backend: the ONNX graph converted op by op to torch gives onnxruntime's outputs
// (≤ 1e-5) on every family, and an SGD step moves the trainable tensors only.
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { BLAS_WARN, blasNote, pythonCommand, TorchGraph } from '../../../main/engine/train/torch-graph.js';
import { familyFiles, familyInput, maxDiff } from '../../fixtures/families.js';
import { encodeModel, GraphBuilder, seededRandom } from '../../fixtures/models.js';
import { ortOutputs } from '../../fixtures/ort-outputs.js';

const hasTorch = spawnSync(pythonCommand(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`SKIPPED test/engine/train: ${pythonCommand()} has no torch (apt-get install python3-torch, or set RWS_PYTHON)`);

let backend: TorchGraph | undefined;
/** One backend process for the file: each test loads its model into it. */
async function loaded(model: OnnxModel, trainable: string[] = []): Promise<TorchGraph> {
  if (!backend) backend = await TorchGraph.open(model, { trainable, threads: 2, lr: 0.5 });
  else await backend.load(model, { trainable, threads: 2, lr: 0.5 });
  return backend;
}
afterAll(async () => {
  await backend?.close();
});

/** The tensors of the first `k` layers, BatchNorm statistics included (the backend keeps those fixed). */
function firstLayers(model: OnnxModel, k: number): string[] {
  return model.layers().slice(0, k).flatMap((l) => l.tensors.map((t) => t.name));
}

describe.skipIf(!hasTorch)('torch backend: the converted graph computes what onnxruntime computes', () => {
  for (const f of familyFiles()) {
    it(`${f.stem}: every output within 1e-5`, async () => {
      const model = await loadOnnx(f.file);
      const g = await loaded(model);
      const x = familyInput(f.inputBatch);
      const ours = await g.forward(x.data, x.dims);
      const theirs = await ortOutputs(model, x);
      expect(ours.length).toBe(theirs.length);
      ours.forEach((o, i) => expect(maxDiff(o, theirs[i]!)).toBeLessThanOrEqual(1e-5));
    });
  }
});

describe.skipIf(!hasTorch)('torch backend: a training step reaches the first K layers and nothing else', () => {
  for (const f of familyFiles().filter((x) => x.batch === 'dynamic')) {
    it(`${f.stem}: K = 3 layers trained, every other weight bit for bit the same`, async () => {
      const model = await loadOnnx(f.file);
      const asked = firstLayers(model, 3);
      const g = await loaded(model, asked);
      const stats = model.layers().slice(0, 3).flatMap((l) => l.tensors.filter((t) => t.role === 'mean' || t.role === 'var').map((t) => t.name));
      expect(g.statistics.sort()).toEqual(stats.sort());
      expect(g.trainable.sort()).toEqual(asked.filter((n) => !stats.includes(n)).sort());
      const before = await g.weights();
      const x = familyInput(2);
      // SSDLite's first output is boxes: train its per-box class scores towards one class per box.
      const target = f.family === 'ssdlite' ? { probabilities: Float32Array.from({ length: 2 * 40 * 10 }, (_, i) => (i % 10 === (i >> 4) % 10 ? 0.91 : 0.01)) } : { labels: [3, 7] };
      const r = await g.step(x.data, x.dims, target, { output: f.family === 'ssdlite' ? 1 : 0 });
      expect(Number.isFinite(r.loss)).toBe(true);
      const after = await g.weights();
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      for (const [name, v] of after) {
        const d = maxDiff(v, before.get(name)!);
        if (g.trainable.includes(name)) {
          expect(r.gradNorms[name], name).toBeGreaterThan(0);
          expect(d, name).toBeGreaterThan(0);
        } else expect(d, name).toBe(0);
      }
    });
  }
});

/**
 * The backend's gradient of the loss against `labels` along a random direction of the trainable
 * tensors, and onnxruntime's central difference of the same loss: (L(θ+εd) − L(θ−εd)) / 2ε.
 */
async function gradientAndDifference(model: OnnxModel, g: TorchGraph, x: { data: Float32Array; dims: number[] }, labels: number[]): Promise<{ predicted: number; measured: number }> {
  const r = await g.step(x.data, x.dims, { labels }, { gradients: true, update: false });
  const rand = seededRandom(3);
  const direction = new Map(g.trainable.map((n) => [n, Float32Array.from(model.floats(n), () => rand() * 2 - 1)]));
  let predicted = 0;
  for (const [n, d] of direction) d.forEach((v, i) => (predicted += v * r.gradients!.get(n)![i]!));
  // Small enough that few ReLUs and max-pools change sides, large enough for float32 losses.
  const eps = 1e-4;
  const lossAt = async (sign: number) => {
    const m = parseOnnx(model.encode(), { file: 'moved.onnx' });
    for (const [n, d] of direction) m.setFloats(n, Float32Array.from(model.floats(n), (v, i) => v + sign * eps * d[i]!));
    const logits = (await ortOutputs(m, x))[0]!;
    let loss = 0;
    labels.forEach((label, b) => {
      const row = Array.from(logits.subarray(b * 10, b * 10 + 10));
      const max = Math.max(...row);
      loss += Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max - row[label]!;
    });
    return loss / labels.length;
  };
  return { predicted, measured: ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps) };
}

describe.skipIf(!hasTorch)('torch backend: gradients equal finite differences through onnxruntime', () => {
  it('resnet (BatchNorm kept): ⟨∇L, d⟩ = (L(θ+εd) − L(θ−εd)) / 2ε within 2%', async () => {
    const f = familyFiles(['resnet']).find((x) => x.form === 'unfolded' && x.batch === 'dynamic')!;
    const model = await loadOnnx(f.file);
    const g = await loaded(model, firstLayers(model, 2));
    const { predicted, measured } = await gradientAndDifference(model, g, familyInput(2), [1, 8]);
    expect(Math.abs(predicted)).toBeGreaterThan(1e-3);
    expect(Math.abs(measured - predicted) / Math.abs(predicted)).toBeLessThan(0.02);
  });
});

/**
 * conv, then LayerNorm over channels and a Linear with GELU, written out as torch exports them below
 * opset 17: LayerNorm as nine element-wise nodes, GELU as five.
 */
function decomposedLayerNormGelu(): OnnxModel {
  const g = new GraphBuilder(11);
  const scalar = (name: string, v: number) => g.weight(name, [], Float32Array.of(v));
  let x = g.conv('input', 3, 8, 3, { name: '/stem' });
  x = g.node('Transpose', [x], { perm: [0, 2, 3, 1] }, '/to-last/Transpose');
  const mean = g.node('ReduceMean', [x], { axes: [-1] }, '/ln/ReduceMean');
  const d = g.node('Sub', [x, mean], {}, '/ln/Sub');
  const v = g.node('ReduceMean', [g.node('Pow', [d, scalar('/ln/two', 2)], {}, '/ln/Pow')], { axes: [-1] }, '/ln/ReduceMean_1');
  const s = g.node('Sqrt', [g.node('Add', [v, scalar('/ln/eps', 1e-6)], {}, '/ln/Add')], {}, '/ln/Sqrt');
  const n = g.node('Div', [d, s], {}, '/ln/Div');
  const gamma = g.weight('ln.weight', [8], Float32Array.from(g.uniform(8, 0.3), (u) => 1 + u));
  x = g.node('Add', [g.node('Mul', [n, gamma], {}, '/ln/Mul'), g.weight('ln.bias', [8], g.uniform(8, 0.1))], {}, '/ln/Add_1');
  x = g.node('MatMul', [x, g.weight('fc1.weight', [8, 16], g.uniform(128, 0.6))], {}, '/fc1/MatMul');
  const erf = g.node('Erf', [g.node('Div', [x, scalar('/gelu/sqrt2', Math.SQRT2)], {}, '/gelu/Div')], {}, '/gelu/Erf');
  const m = g.node('Mul', [x, g.node('Add', [erf, scalar('/gelu/one', 1)], {}, '/gelu/Add')], {}, '/gelu/Mul');
  x = g.node('Mul', [m, scalar('/gelu/half', 0.5)], {}, '/gelu/Mul_1');
  x = g.node('Transpose', [x], { perm: [0, 3, 1, 2] }, '/to-first/Transpose');
  x = g.node('GlobalAveragePool', [x], {}, '/gap');
  x = g.node('Flatten', [x], { axis: 1 }, '/flatten');
  g.gemm(x, 16, 10, '/fc');
  return parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 8, 8] }, { name: 'logits', shape: ['batch', 10] })), { file: 'ln-gelu.onnx' });
}

describe.skipIf(!hasTorch)('torch backend: LayerNorm and GELU as torch exports them below opset 17', () => {
  it('runs each as one op, computing what onnxruntime computes, with the gradients its finite differences give, and trains the LayerNorm\'s scale and shift', async () => {
    const model = decomposedLayerNormGelu();
    const g = await loaded(model, ['ln.weight', 'ln.bias', 'fc1.weight']);
    expect(g.fused).toEqual({ LayerNormalization: 1, Gelu: 1 });
    const rand = seededRandom(5);
    const x = { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rand() * 2 - 1), dims: [2, 3, 8, 8] };
    const ours = await g.forward(x.data, x.dims);
    const theirs = await ortOutputs(model, x);
    expect(maxDiff(ours[0]!, theirs[0]!)).toBeLessThanOrEqual(1e-5);
    // A Transpose follows the GELU: Debian's torch gets that wrong in F.gelu's own backward, differently each run.
    for (let k = 0; k < 3; k++) {
      const { predicted, measured } = await gradientAndDifference(model, g, x, [2, 6]);
      expect(Math.abs(predicted)).toBeGreaterThan(1e-3);
      expect(Math.abs(measured - predicted) / Math.abs(predicted)).toBeLessThan(0.02);
    }
    const r = await g.step(x.data, x.dims, { labels: [2, 6] });
    for (const name of ['ln.weight', 'ln.bias', 'fc1.weight']) expect(r.gradNorms[name], name).toBeGreaterThan(0);
  });

  it('leaves a chain whose middle value is read elsewhere as it is', async () => {
    const model = decomposedLayerNormGelu();
    // The GELU's input over √2 also goes to the output: the five nodes are no longer GELU's alone.
    const div = model.nodes().find((n) => n.name === '/gelu/Div')!;
    model.graph.output.push({ ...model.graph.output[0]!, name: div.output[0]! });
    const g = await loaded(parseOnnx(model.encode(), { file: 'ln-gelu-read.onnx' }));
    expect(g.fused).toEqual({ LayerNormalization: 1 });
  });
});

/**
 * Ops that user exports carry beyond the fixture families (TF-style padding, GroupNorm, Mish,
 * normalised heads, space-to-depth stems, einsum): each case takes the stem conv's output (8
 * channels, 8×8) and gives a tensor and its size (channels × height × width), which a Linear over
 * every value classifies (not pooled: a value in the wrong place changes the output).
 */
const OP_CASES: { name: string; opset?: number; trains?: string[]; build: (g: GraphBuilder, x: string) => [string, number] }[] = [
  { name: 'Pad, constant value, lopsided', build: (g, x) => [g.node('Pad', [x, g.int64s('pads', [0, 0, 1, 2, 0, 0, 2, 1]), g.weight('fill', [], Float32Array.of(0.5))]), 8 * 11 * 11] },
  { name: 'Pad, negative (a crop)', build: (g, x) => [g.node('Pad', [x, g.int64s('pads', [0, 0, -1, 0, 0, 0, 0, -2])]), 8 * 7 * 6] },
  { name: 'Pad, reflect', build: (g, x) => [g.node('Pad', [x, g.int64s('pads', [0, 0, 1, 2, 0, 0, 2, 1])], { mode: 'reflect' }), 8 * 11 * 11] },
  { name: 'Pad, wrap (opset 19)', opset: 19, build: (g, x) => [g.node('Pad', [x, g.int64s('pads', [0, 0, 2, 1, 0, 0, 1, 3])], { mode: 'wrap' }), 8 * 11 * 12] },
  { name: 'Pad, edge, over the axes given (opset 18)', opset: 18, build: (g, x) => [g.node('Pad', [x, g.int64s('pads', [1, 0, 0, 3]), '', g.int64s('axes', [2, -1])], { mode: 'edge' }), 8 * 9 * 11] },
  {
    name: 'GroupNormalization, a scale per group (opset 18)',
    opset: 18,
    trains: ['gn.weight', 'gn.bias'],
    build: (g, x) => [g.node('GroupNormalization', [x, g.weight('gn.weight', [4], Float32Array.of(0.5, 1.5, -1, 2)), g.weight('gn.bias', [4], Float32Array.of(0.1, -0.2, 0.3, 0))], { num_groups: 4, epsilon: 1e-5 }), 512],
  },
  {
    name: 'GroupNormalization, a scale per channel (opset 21)',
    opset: 21,
    trains: ['gn.weight', 'gn.bias'],
    build: (g, x) => [g.node('GroupNormalization', [x, g.weight('gn.weight', [8], Float32Array.from(g.uniform(8, 1))), g.weight('gn.bias', [8], g.uniform(8, 0.2))], { num_groups: 2, epsilon: 1e-5 }), 512],
  },
  { name: 'LpNormalization over channels', build: (g, x) => [g.node('LpNormalization', [x], { axis: 1, p: 2 }), 512] },
  { name: 'ReduceL2, axes as an input (opset 18), dividing', opset: 18, build: (g, x) => [g.node('Div', [x, g.node('ReduceL2', [x, g.int64s('axes', [1])], { keepdims: 1 })]), 512] },
  ...['ReduceL1', 'ReduceSumSquare', 'ReduceLogSumExp', 'ReduceProd'].map((op) => ({
    name: `${op}, added back`,
    build: (g: GraphBuilder, x: string): [string, number] => [g.node('Add', [x, g.node(op, [x], { axes: [1], keepdims: 1 })]), 512],
  })),
  {
    // F.normalize as exported (x / max(‖x‖, eps)) where a ReLU left every channel of some pixels at zero.
    name: 'ReduceL2 and LpNormalization at all-zero pixels: a gradient, not 0/0',
    build: (g, x) => {
      const mask = g.weight('mask', [1, 1, 8, 8], Float32Array.from({ length: 64 }, (_, i) => (i % 8 < 3 ? 0 : 1)));
      const m = g.node('Mul', [x, mask]);
      const l2 = g.node('Clip', [g.node('ReduceL2', [m], { axes: [1], keepdims: 1 }), g.weight('eps', [], Float32Array.of(1e-12))]);
      return [g.node('Add', [g.node('Div', [m, l2]), g.node('LpNormalization', [m], { axis: 1, p: 2 })]), 512];
    },
  },
  { name: 'DepthToSpace, DCR', build: (g, x) => [g.node('DepthToSpace', [x], { blocksize: 2, mode: 'DCR' }), 2 * 16 * 16] },
  { name: 'DepthToSpace, CRD', build: (g, x) => [g.node('DepthToSpace', [x], { blocksize: 2, mode: 'CRD' }), 2 * 16 * 16] },
  { name: 'SpaceToDepth', build: (g, x) => [g.node('SpaceToDepth', [x], { blocksize: 2 }), 32 * 4 * 4] },
  { name: 'Einsum, a channel mix', trains: ['mix.weight'], build: (g, x) => [g.node('Einsum', [x, g.weight('mix.weight', [8, 6], g.uniform(48, 0.5))], { equation: 'nchw,cd->ndhw' }), 6 * 8 * 8] },
  { name: 'Mish (opset 18)', opset: 18, build: (g, x) => [g.node('Mish', [x]), 512] },
  { name: 'Celu', build: (g, x) => [g.node('Celu', [x], { alpha: 0.7 }), 512] },
  { name: 'Softsign', build: (g, x) => [g.node('Softsign', [x]), 512] },
  { name: 'ThresholdedRelu', build: (g, x) => [g.node('ThresholdedRelu', [x], { alpha: 0.1 }), 512] },
  { name: 'Sign, times its input', build: (g, x) => [g.node('Mul', [x, g.node('Sign', [x])]), 512] },
  { name: 'Sin and Cos', build: (g, x) => [g.node('Add', [g.node('Sin', [x]), g.node('Cos', [x])]), 512] },
];

describe.skipIf(!hasTorch)('torch backend: ops of user exports beyond the fixture families', () => {
  for (const c of OP_CASES) {
    it(`${c.name}: onnxruntime's outputs within 1e-5, and a step trains the stem conv${c.trains ? ` and ${c.trains.join(', ')}` : ''}`, async () => {
      const g = new GraphBuilder(31);
      const [y, size] = c.build(g, g.conv('input', 3, 8, 3, { name: '/stem' }));
      g.gemm(g.node('Flatten', [y], { axis: 1 }), size, 10, '/fc');
      const model = parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 8, 8] }, { name: 'logits', shape: ['batch', 10] }, c.opset)), { file: 'op.onnx' });
      const trains = ['/stem.weight', ...(c.trains ?? [])];
      const backend = await loaded(model, trains);
      const rand = seededRandom(7);
      const x = { data: Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rand() * 2 - 1), dims: [2, 3, 8, 8] };
      const ours = await backend.forward(x.data, x.dims);
      const theirs = await ortOutputs(model, x);
      expect(maxDiff(ours[0]!, theirs[0]!)).toBeLessThanOrEqual(1e-5);
      const r = await backend.step(x.data, x.dims, { labels: [1, 8] });
      for (const name of trains) expect(r.gradNorms[name], name).toBeGreaterThan(0);
    });
  }

  it('refuses a model with an op it does not convert, naming the file and the op', async () => {
    const g = new GraphBuilder(32);
    const pooled = g.node('Flatten', [g.node('GlobalAveragePool', [g.node('Hardmax', [g.conv('input', 3, 8, 3, { name: '/stem' })], { axis: 1 })])], { axis: 1 });
    g.gemm(pooled, 8, 10, '/fc');
    const model = parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 8, 8] }, { name: 'logits', shape: ['batch', 10] })), { file: 'hardmax.onnx' });
    const err = await TorchGraph.open(model, { trainable: ['/stem.weight'] }).catch((e) => e);
    expect(err.code).toBe('train-unsupported');
    expect(err.message).toBe('hardmax.onnx: ops the training backend does not convert: Hardmax');
  });
});

describe.skipIf(!hasTorch)('torch backend: how fast its matrix products are', () => {
  it('measures them against the same product as a convolution', async () => {
    const g = await loaded(await loadOnnx(familyFiles(['resnet'])[0]!.file));
    const slowdown = await g.blasSlowdown();
    expect(Number.isFinite(slowdown) && slowdown > 0).toBe(true);
  });
});

describe('blasNote: said when the reference BLAS would slow a model with matrix products', () => {
  it('names the slowdown and the nodes for a model with many, and says nothing for a fast BLAS or for one Gemm at the end (without measuring)', async () => {
    const convnext = await loadOnnx(familyFiles(['convnext']).find((f) => f.form === 'unfolded')!.file);
    const resnet = await loadOnnx(familyFiles(['resnet'])[0]!.file);
    const products = convnext.nodes().filter((n) => n.op_type === 'MatMul' || n.op_type === 'Gemm').length;
    expect(products).toBeGreaterThan(1);
    const backend = (slowdown: number) => ({ blasSlowdown: async () => slowdown });
    expect(await blasNote(backend(11), convnext)).toBe(`torch's matrix products run 11× slower here than its convolutions (the reference BLAS): this model's ${products} MatMul and Gemm nodes run that much slower in training; install an optimised BLAS (Debian: apt-get install libopenblas0-pthread)`);
    expect(await blasNote(backend(BLAS_WARN - 0.1), convnext)).toBeUndefined();
    expect(resnet.nodes().filter((n) => n.op_type === 'MatMul' || n.op_type === 'Gemm')).toHaveLength(1);
    // One Gemm at the end: the backend is not even asked.
    expect(await blasNote({ blasSlowdown: () => Promise.reject(new Error('asked')) }, resnet)).toBeUndefined();
  });
});

describe('torch backend: when Python or torch is missing', () => {
  it('says what to install', async () => {
    const model = await loadOnnx(familyFiles(['resnet'])[0]!.file);
    const err = await TorchGraph.open(model, { python: '/nonexistent/python3' }).catch((e) => e);
    expect(err.code).toBe('train-python');
    expect(err.message).toMatch(/training needs PyTorch: \/nonexistent\/python3 could not be started \(ENOENT\); install Debian's python3-torch/);
  });
});
