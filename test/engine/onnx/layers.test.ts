import { describe, expect, it } from 'vitest';
import { loadOnnx, parseOnnx, isFloatType } from '../../../main/engine/onnx/model.js';
import { familyFiles } from '../../fixtures/families.js';
import { GraphBuilder, encodeModel } from '../../fixtures/models.js';

describe('layers of torch exports, every family and form', () => {
  for (const f of familyFiles()) {
    it(`${f.stem}: every weight tensor of more than one value is in exactly one layer, named after its node`, async () => {
      const m = await loadOnnx(f.file);
      const layers = m.layers();
      const held = layers.flatMap((l) => l.tensors.map((t) => t.name));
      expect(new Set(held).size).toBe(held.length);
      const weights = m.initializers().filter((t) => isFloatType(t.dataType) && t.dims.reduce((a, b) => a * b, 1) > 1 && t.consumers.length > 0);
      expect(weights.map((t) => t.name).filter((n) => !held.includes(n))).toEqual([]);
      // Torch names nodes by module path; no layer is left with an OP@INDEX stand-in.
      for (const l of layers) expect(l.node).toMatch(/^\//);
      expect(layers.map((l) => l.index)).toEqual(layers.map((_, i) => i));
      const order = layers.map((l) => l.nodeIndex);
      expect([...order].sort((a, b) => a - b)).toEqual(order);
    });
  }

  it('unfolded exports: Linear weights behind a Transpose are MatMul layers, output channels on the stored axis 0', async () => {
    for (const family of ['vit', 'convnext'] as const) {
      const m = await loadOnnx(familyFiles([family]).find((f) => f.form === 'unfolded')!.file);
      const matmuls = m.layers().filter((l) => l.op === 'MatMul');
      expect(matmuls.length).toBeGreaterThanOrEqual(4);
      for (const l of matmuls) {
        expect(l.tensors[0]!.via).toEqual(['Transpose']);
        expect(l.channelAxis).toBe(0);
        expect(l.tensors[1]!.role).toBe('bias');
        // Stored as torch's Linear [out, in]: the bias has one value per output channel.
        expect(l.tensors[1]!.shape).toEqual([l.shape[0]]);
      }
    }
  });

  it('folded exports: pre-transposed MatMul weights [in, out] have output channels on axis 1', async () => {
    const m = await loadOnnx(familyFiles(['convnext']).find((f) => f.form === 'folded')!.file);
    const matmuls = m.layers().filter((l) => l.op === 'MatMul');
    expect(matmuls.length).toBe(4);
    for (const l of matmuls) {
      expect(l.tensors[0]!.via).toBeUndefined();
      expect(l.channelAxis).toBe(1);
      expect(l.tensors[1]!.shape).toEqual([l.shape[1]]);
    }
  });

  it('LayerNorm scales and shifts, layer scales, class tokens and position embeddings are layers', async () => {
    const convnext = await loadOnnx(familyFiles(['convnext'])[0]!.file);
    const ln = convnext.layers().filter((l) => l.op === 'LayerNormalization');
    expect(ln.length).toBe(5);
    for (const l of ln) expect(l.tensors.map((t) => t.role)).toEqual(['scale', 'shift']);
    expect(convnext.layers().filter((l) => l.kind === 'param').map((l) => l.weight)).toEqual(['stage1.layer_scale', 'stage2.layer_scale']);
    const vit = await loadOnnx(familyFiles(['vit'])[0]!.file);
    expect(vit.layers().slice(0, 3).map((l) => [l.op, l.weight])).toEqual([
      ['Conv', 'conv_proj.weight'],
      ['Expand', 'class_token'],
      ['Add', 'pos_embedding'],
    ]);
  });

  it('conv geometry: kernel, stride and groups (depthwise, grouped)', async () => {
    const mobile = (await loadOnnx(familyFiles(['mobilenetv3'])[0]!.file)).layers();
    expect(mobile[0]).toMatchObject({ op: 'Conv', node: '/features/features.0/features.0.0/Conv', shape: [8, 3, 3, 3], kernel: [3, 3], stride: [2, 2], groups: 1 });
    expect(mobile[1]).toMatchObject({ shape: [8, 1, 3, 3], groups: 8 });
    const regnet = (await loadOnnx(familyFiles(['regnet'])[0]!.file)).layers();
    const grouped = regnet.filter((l) => (l.groups ?? 1) > 1);
    expect(grouped.map((l) => [l.shape, l.groups])).toEqual([
      [[16, 4, 3, 3], 4],
      [[16, 4, 3, 3], 4],
    ]);
  });

  it('unfolded BatchNorm belongs to its conv, its variance patched in log space', async () => {
    const resnet = (await loadOnnx(familyFiles(['resnet']).find((f) => f.form === 'unfolded')!.file)).layers();
    expect(resnet[0]!.tensors.map((t) => [t.name, t.role, t.mode])).toEqual([
      ['conv1.weight', 'weight', 'add'],
      ['bn1.weight', 'scale', 'add'],
      ['bn1.bias', 'shift', 'add'],
      ['bn1.running_mean', 'mean', 'add'],
      ['bn1.running_var', 'var', 'log'],
    ]);
    expect(resnet[0]!.batchNorm).toEqual({ scale: 'bn1.weight', bias: 'bn1.bias', mean: 'bn1.running_mean', var: 'bn1.running_var', node: '/bn1/BatchNormalization' });
  });
});

describe('layers: weights that reach their node indirectly', () => {
  it('a weight shared behind Identity (torch merges equal initializers) is held by the first layer only', () => {
    const g = new GraphBuilder(3);
    const scale = g.weight('ln1.weight', [4], g.uniform(4, 1));
    const shift = g.weight('ln1.bias', [4], g.uniform(4, 0.1));
    g.nodes.push({ name: 'Identity_0', op_type: 'Identity', input: [shift], output: ['ln2.bias'], attribute: [] });
    let x = g.node('LayerNormalization', ['input', scale, shift], { axis: -1 }, '/ln1/LayerNormalization');
    x = g.node('LayerNormalization', [x, g.weight('ln2.weight', [4], g.uniform(4, 1)), 'ln2.bias'], { axis: -1 }, '/ln2/LayerNormalization');
    const m = parseOnnx(encodeModel(g.model({ name: 'input', shape: [2, 4] }, { name: 'out', shape: [2, 4] })), { file: 'shared.onnx' });
    expect(m.layers().map((l) => l.tensors.map((t) => t.name))).toEqual([['ln1.weight', 'ln1.bias'], ['ln2.weight']]);
  });

  it('a weight reshaped on its way keeps output channels on axis 0; single numbers are constants, not layers', () => {
    const g = new GraphBuilder(4);
    const shape = 'shape';
    g.initializers.push({ name: shape, dims: [2], data_type: 7, raw_data: new Uint8Array(new BigInt64Array([6n, 4n]).buffer) });
    const r = g.node('Reshape', [g.weight('w', [6, 2, 2], g.uniform(24, 0.5)), shape], {}, '/fc/Reshape');
    let x = g.node('Gemm', ['input', r], { transB: 1 }, '/fc/Gemm');
    x = g.node('Mul', [x, g.weight('half', [1], Float32Array.of(0.5))], {}, '/Mul');
    const m = parseOnnx(encodeModel(g.model({ name: 'input', shape: [2, 4] }, { name: 'out', shape: [2, 6] })), { file: 'reshaped.onnx' });
    const layers = m.layers();
    expect(layers.map((l) => [l.op, l.weight, l.channelAxis, l.tensors[0]!.via])).toEqual([['Gemm', 'w', 0, ['Reshape']]]);
  });
});
