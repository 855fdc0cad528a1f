// The Patcher on torch exports of every model family, on the tensor kinds torch exports carry
// (Linear weights behind a Transpose, LayerNorm and BatchNorm parameters, layer scales), and on
// graphs where the head/tail split used to fail to load.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Signature } from '../../../main/core/signature.js';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { extractFromModels } from '../../../main/engine/signatures/extract.js';
import { Patcher, SESSION_STRATEGY_MAX_BYTES, type PatchStrategy } from '../../../main/engine/runtime/patcher.js';
import { familyFiles, familyInput, maxDiff, torchOutputs } from '../../fixtures/families.js';
import { encodeModel, GraphBuilder, seededRandom } from '../../fixtures/models.js';

const STRATEGIES: ('auto' | PatchStrategy)[] = ['auto', 'inplace', 'head', 'session', 'inputs'];

describe('Patcher on torch exports: patched = torch\'s own robust model (≤ 1e-5)', () => {
  for (const f of familyFiles()) {
    it(f.stem, async () => {
      const clean = await loadOnnx(f.file);
      const robust = await loadOnnx(f.robustFile);
      const ex = extractFromModels(clean, robust, undefined, { clean: f.file, robust: f.robustFile, condition: 'fog', quant: 'f32', layers: 'auto', energyShare: 1 });
      expect(ex.share).toBe(1);
      expect(ex.warnings).toEqual([]);
      const sigs = new Map([['fog', ex.signature]]);
      const x = familyInput(f.inputBatch);
      for (const strategy of STRATEGIES) {
        for (const [o, output] of clean.outputs.entries()) {
          const p = await Patcher.create(clean, sigs, { strategy, outputName: output.name, threads: 1 });
          // Kept BatchNorms too: onnxruntime folds them into the convs, and so does the in-place
          // patcher. (Families whose tiny tensors need a session re-created per switch, or whose
          // patched Linear layers turn pre-packing off, decide by a timing.)
          if (strategy === 'auto' && !['regnet', 'convnext', 'vit'].includes(f.family)) expect(p.strategy).toBe('inplace');
          try {
            expect(maxDiff(await p.run(x.data.slice(), x.dims), torchOutputs(f.family, 'clean', f.inputBatch)[o]!)).toBeLessThanOrEqual(1e-5);
            await p.setMix({ fog: 1 });
            expect(maxDiff(await p.run(x.data.slice(), x.dims), torchOutputs(f.family, 'robust', f.inputBatch)[o]!)).toBeLessThanOrEqual(1e-5);
            expect(p.warnings).toEqual([]);
          } finally {
            await p.dispose();
          }
        }
      }
    });
  }
});

/** A signature of random deltas (seeded) for the named tensors, with their base hashes. */
function randomSignature(model: OnnxModel, specs: { name: string; mode?: 'add' | 'log' }[], seed: number): Signature {
  const rand = seededRandom(seed);
  const baseHashes: Record<string, string> = {};
  const tensors = specs.map(({ name, mode = 'add' }) => {
    const clean = model.floats(name);
    baseHashes[name] = createHash('sha256').update(Buffer.from(clean.buffer, clean.byteOffset, clean.byteLength)).digest('hex');
    const values = Float32Array.from(clean, () => (rand() * 2 - 1) * 0.2);
    return { name, shape: model.tensor(name).dims.map(Number), values, channelAxis: 0, mode };
  });
  return { meta: { format: 'rws/1', id: 'sig', condition: 'fog', severity: [1, 5], method: 'plain', layers: 1, quant: 'f32', baseHashes, batchNorm: 'none' }, tensors };
}

/** θ + α·δ for one tensor of a signature, in f64 from the raw arrays. */
function patched(model: OnnxModel, sig: Signature, name: string, alpha: number): Float64Array {
  const clean = model.floats(name);
  const t = sig.tensors.find((x) => x.name === name)!;
  return Float64Array.from(clean, (v, i) => (t.mode === 'log' ? v * Math.exp(alpha * t.values[i]!) : v + alpha * t.values[i]!));
}

describe('Patcher on the tensor kinds torch exports carry: outputs equal arithmetic done here', () => {
  // y = LayerNorm(x · Transpose(W) + b; γ, β) · s : a Linear kept behind a Transpose (torch without
  // constant folding), a LayerNorm's scale and shift, and a layer scale.
  const g = new GraphBuilder(21);
  const W = g.weight('fc.weight', [4, 3], g.uniform(12, 0.8));
  const t = g.node('Transpose', [W], { perm: [1, 0] }, '/fc/Transpose');
  let y = g.node('MatMul', ['input', t], {}, '/fc/MatMul');
  y = g.node('Add', [g.weight('fc.bias', [4], g.uniform(4, 0.2)), y], {}, '/fc/Add');
  y = g.node('LayerNormalization', [y, g.weight('ln.weight', [4], g.uniform(4, 1)), g.weight('ln.bias', [4], g.uniform(4, 0.3))], { axis: -1, epsilon: 1e-5 }, '/ln/LayerNormalization');
  g.node('Mul', [y, g.weight('layer_scale', [4], g.uniform(4, 1))], {}, '/Mul');
  const linear = parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3] }, { name: 'out', shape: ['batch', 4] })), { file: 'linear.onnx' });

  it('lists them as three layers: MatMul (via Transpose) with bias, LayerNorm, the layer scale', () => {
    expect(linear.layers().map((l) => [l.op, l.tensors.map((x) => x.name)])).toEqual([
      ['MatMul', ['fc.weight', 'fc.bias']],
      ['LayerNormalization', ['ln.weight', 'ln.bias']],
      ['Mul', ['layer_scale']],
    ]);
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: x·(W+αΔ)ᵀ, LayerNorm with (γ+αΔ, β+αΔ), times (s+αΔ)`, async () => {
      const names = ['fc.weight', 'fc.bias', 'ln.weight', 'ln.bias', 'layer_scale'];
      const sig = randomSignature(linear, names.map((name) => ({ name })), 5);
      const p = await Patcher.create(linear, new Map([['sig', sig]]), { strategy, threads: 1 });
      const x = Float32Array.of(0.3, -1.2, 0.7, 1.5, 0.1, -0.4);
      for (const alpha of [0.7, -0.5, 1]) {
        await p.setMix({ sig: alpha });
        const [w, b, gamma, beta, s] = names.map((n) => patched(linear, sig, n, alpha));
        const expected: number[] = [];
        for (let r = 0; r < 2; r++) {
          const h = [0, 1, 2, 3].map((o) => b![o]! + [0, 1, 2].reduce((acc, i) => acc + x[r * 3 + i]! * w![o * 3 + i]!, 0));
          const mean = h.reduce((a, v) => a + v, 0) / 4;
          const variance = h.reduce((a, v) => a + (v - mean) ** 2, 0) / 4;
          h.forEach((v, o) => expected.push((((v - mean) / Math.sqrt(variance + 1e-5)) * gamma![o]! + beta![o]!) * s![o]!));
        }
        expect(maxDiff(await p.run(x.slice(), [2, 3]), expected)).toBeLessThanOrEqual(1e-5);
      }
      await p.dispose();
    });
  }

  // y = BatchNorm(x; γ, β, μ, σ²) on its own, σ² patched in log space.
  const h = new GraphBuilder(22);
  h.batchNorm('input', 3, '/bn');
  const bn = parseOnnx(encodeModel(h.model({ name: 'input', shape: ['batch', 3, 2, 2] }, { name: 'out', shape: ['batch', 3, 2, 2] })), { file: 'bn.onnx' });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: a standalone BatchNorm, its variance as σ²·exp(αδ)`, async () => {
      expect(bn.layers().map((l) => [l.op, l.kind, l.tensors.map((x) => x.mode)])).toEqual([['BatchNormalization', 'norm', ['add', 'add', 'add', 'log']]]);
      const sig = randomSignature(bn, [{ name: '/bn.weight' }, { name: '/bn.bias' }, { name: '/bn.running_mean' }, { name: '/bn.running_var', mode: 'log' }], 6);
      const p = await Patcher.create(bn, new Map([['sig', sig]]), { strategy, threads: 1 });
      const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 2);
      await p.setMix({ sig: 0.8 });
      const [gamma, beta, mu, v] = ['/bn.weight', '/bn.bias', '/bn.running_mean', '/bn.running_var'].map((n) => patched(bn, sig, n, 0.8));
      const expected = Array.from(x, (value, i) => {
        const c = Math.floor(i / 4);
        return ((value - mu![c]!) / Math.sqrt(v![c]! + 1e-5)) * gamma![c]! + beta![c]!;
      });
      expect(maxDiff(await p.run(x.slice(), [1, 3, 2, 2]), expected)).toBeLessThanOrEqual(1e-5);
      await p.dispose();
    });
  }
});

describe('auto never settles on a strategy that does not load', () => {
  /** conv → Reshape(shape) → MatMul → Relu → Reshape(same shape) → Gemm: a Constant read on both sides of the cut. */
  function sharedConstant(): OnnxModel {
    const g = new GraphBuilder(3);
    const shape = { dims: [2], data_type: 7, raw_data: new Uint8Array(new BigInt64Array([0n, -1n]).buffer) };
    g.nodes.push({ name: '/Constant', op_type: 'Constant', input: [], output: ['/Constant_output_0'], attribute: [{ name: 'value', type: 4, t: shape }] });
    let x = g.conv('input', 3, 4, 3, { name: '/conv1' });
    x = g.node('Reshape', [x, '/Constant_output_0'], {}, '/Reshape');
    x = g.node('MatMul', [x, g.weight('w2', [64, 8], g.uniform(512, 0.1))], {}, '/fc/MatMul');
    x = g.node('Relu', [x], {}, '/Relu');
    x = g.node('Reshape', [x, '/Constant_output_0'], {}, '/Reshape_1');
    g.node('Gemm', [x, g.weight('fc.weight', [10, 8], g.uniform(80, 0.3)), g.weight('fc.bias', [10], g.uniform(10, 0.1))], { transB: 1 }, '/head/Gemm');
    return parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 4, 4] }, { name: 'logits', shape: ['batch', 10] })), { file: 'shared-constant.onnx' });
  }

  it('a Constant shared by the head and the tail (an int64 shape, as in SSDLite exports) splits and loads', async () => {
    const m = sharedConstant();
    const sig = randomSignature(m, [{ name: '/conv1.weight' }, { name: 'w2' }], 7);
    const x = Float32Array.from({ length: 96 }, (_, i) => Math.cos(i));
    const outputs = [];
    for (const strategy of ['head', 'session'] as const) {
      const p = await Patcher.create(m, new Map([['sig', sig]]), { strategy, threads: 1 });
      await p.setMix({ sig: 1 });
      outputs.push(await p.run(x.slice(), [2, 3, 4, 4]));
      await p.dispose();
    }
    expect(maxDiff(outputs[0]!, outputs[1]!)).toBeLessThanOrEqual(1e-6);
  });

  it('a model the head/tail split cannot cut (a patched weight read inside a subgraph) and in-place patching refuses (a weight scaled by a constant) is patched whole, with a warning', async () => {
    // Large enough that auto would take the head + tail split.
    const g = new GraphBuilder(9);
    let y = g.conv('input', 3, 3, 3, { name: '/stem' });
    y = g.node('Mul', [y, g.weight('gain', [3, 1, 1], Float32Array.of(0.5, 1.5, 2))], {}, '/stem/Mul');
    const w = g.weight('branch.weight', [4, 3, 3, 3], g.uniform(108, 0.3));
    const conv = { name: '/branch/Conv', op_type: 'Conv', input: [y, 'branch.weight'], output: ['branch_out'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] };
    const branch = (name: string) => ({ name, node: [conv], output: [{ name: 'branch_out', type: { tensor_type: { elem_type: 1 } } }] });
    g.nodes.push({ name: '/Constant', op_type: 'Constant', input: [], output: ['cond'], attribute: [{ name: 'value', type: 4, t: { dims: [], data_type: 9, raw_data: Uint8Array.of(1) } }] });
    g.nodes.push({ name: '/If', op_type: 'If', input: ['cond'], output: ['/If_output_0'], attribute: [{ name: 'then_branch', type: 5, g: branch('then') }, { name: 'else_branch', type: 5, g: branch('else') }] });
    let x = g.node('GlobalAveragePool', ['/If_output_0'], {}, '/gap');
    x = g.node('Flatten', [x], { axis: 1 }, '/flatten');
    const wide = Math.ceil(SESSION_STRATEGY_MAX_BYTES / 4 / 4) + 1;
    x = g.gemm(x, 4, wide, '/wide');
    g.gemm(x, wide, 10, '/fc');
    const m = parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 4, 4] }, { name: 'logits', shape: ['batch', 10] })), { file: 'subgraph.onnx' });
    expect(w).toBe('branch.weight');
    const sig = randomSignature(m, [{ name: '/stem.weight' }, { name: 'branch.weight' }], 8);
    const p = await Patcher.create(m, new Map([['sig', sig]]), { threads: 1 });
    expect(p.strategy).toBe('session');
    expect(p.strategyReason).toMatch(/^in-place patching was not used: subgraph\.onnx: .*holds values computed from patched tensors.*; the head\/tail split does not load/);
    expect(p.warnings.join('\n')).toMatch(/subgraph\.onnx: the head\/tail split does not load .*re-creating the whole model's session/);
    const x0 = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i));
    const plain = await p.run(x0.slice(), [1, 3, 4, 4]);
    await p.setMix({ sig: 1 });
    const moved = await p.run(x0.slice(), [1, 3, 4, 4]);
    const whole = await Patcher.create(m, new Map([['sig', sig]]), { strategy: 'session', threads: 1 });
    await whole.setMix({ sig: 1 });
    expect(maxDiff(moved, await whole.run(x0.slice(), [1, 3, 4, 4]))).toBe(0);
    expect(maxDiff(moved, plain)).toBeGreaterThan(1e-4);
    await Promise.all([p.dispose(), whole.dispose()]);
  });
});
