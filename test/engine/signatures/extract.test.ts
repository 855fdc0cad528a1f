import { describe, expect, it } from 'vitest';
import { extractFromModels, tensorDelta } from '../../../main/engine/signatures/extract.js';
import { parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { hashTensor } from '../../../main/engine/signatures/tensor-hash.js';
import { seededRandom, smallResNet, tinyConvNet } from '../../fixtures/models.js';

/** A copy of `m` with layers `layerIdx` nudged by seeded noise of size `eps`: a stand-in "robust" model. */
function nudged(bytes: Uint8Array, layerIdx: number[], eps: number, seed: number): OnnxModel {
  const m = parseOnnx(bytes, { file: 'robust.onnx' });
  const rand = seededRandom(seed);
  const layers = m.layers();
  for (const i of layerIdx) {
    const l = layers[i]!;
    for (const name of [l.weight, l.bias].filter((x): x is string => Boolean(x))) {
      const v = Float32Array.from(m.floats(name), (x) => x + (rand() * 2 - 1) * eps);
      m.setFloats(name, v);
    }
  }
  return m;
}

const opts = { clean: 'clean.onnx', robust: 'robust.onnx', condition: 'fog', quant: 'f32' as const };

describe('extractFromModels', () => {
  it('keeps exactly the changed leading layers with layers=auto, and the deltas are robust − clean', () => {
    const fx = smallResNet();
    const clean = parseOnnx(fx.bytes, { file: 'clean.onnx' });
    const robust = nudged(fx.bytes, [0, 1], 0.01, 7);
    const ex = extractFromModels(clean, robust, undefined, { ...opts, layers: 'auto' });
    expect(ex.signature.meta.layers).toBe(2);
    expect(ex.share).toBeCloseTo(1, 12);
    expect(ex.signature.meta.method).toBe('plain');
    const layers = clean.layers();
    const names = ex.signature.tensors.map((t) => t.name);
    expect(names).toEqual([layers[0]!.weight, layers[0]!.bias, layers[1]!.weight, layers[1]!.bias].filter(Boolean));
    for (const t of ex.signature.tensors) {
      const c = clean.floats(t.name);
      const r = robust.floats(t.name);
      for (let i = 0; i < c.length; i++) expect(t.values[i]).toBe(Math.fround(r[i]! - c[i]!));
      expect(ex.signature.meta.baseHashes[t.name]).toBe(hashTensor(c));
    }
  });

  it('layers=auto stops at the stated energy share; a fixed k keeps k layers', () => {
    const fx = smallResNet();
    const clean = parseOnnx(fx.bytes, { file: 'clean.onnx' });
    // Layer 0 carries most of the change, layer 5 a little.
    const r1 = nudged(fx.bytes, [0], 0.05, 1);
    const robust = nudged(r1.encode(), [5], 0.001, 2);
    const auto = extractFromModels(clean, robust, undefined, { ...opts, layers: 'auto', energyShare: 0.9 });
    expect(auto.signature.meta.layers).toBe(1);
    expect(auto.share).toBeGreaterThanOrEqual(0.9);
    expect(auto.share).toBeLessThan(1);
    const all = extractFromModels(clean, robust, undefined, { ...opts, layers: 'auto', energyShare: 1 });
    expect(all.signature.meta.layers).toBe(6);
    const fixed = extractFromModels(clean, robust, undefined, { ...opts, layers: 3 });
    expect(fixed.signature.meta.layers).toBe(3);
  });

  it('with θ_pre, each tensor delta is orthogonal to the clean direction (the paper\'s projection)', () => {
    const fx = tinyConvNet();
    const pre = parseOnnx(fx.bytes, { file: 'pre.onnx' });
    const clean = nudged(fx.bytes, [0, 1, 2], 0.02, 3);
    const robust = nudged(clean.encode(), [0, 1], 0.03, 4);
    const ex = extractFromModels(clean, robust, pre, { ...opts, layers: 2, pre: 'pre.onnx' });
    expect(ex.signature.meta.method).toBe('projected');
    for (const t of ex.signature.tensors.filter((x) => x.mode === 'add')) {
      const c = clean.floats(t.name);
      const p = pre.floats(t.name);
      let dot = 0;
      let nt = 0;
      let nd = 0;
      for (let i = 0; i < c.length; i++) {
        const tau = c[i]! - p[i]!;
        dot += tau * t.values[i]!;
        nt += tau * tau;
        nd += t.values[i]! ** 2;
      }
      if (nt > 0 && nd > 0) expect(Math.abs(dot) / Math.sqrt(nt * nd)).toBeLessThan(1e-5);
    }
  });

  it('tensorDelta without pre is the plain difference and with pre = clean it is too', () => {
    const c = Float64Array.from([1, 2, 3]);
    const r = Float64Array.from([1.5, 1, 3.25]);
    expect([...tensorDelta(c, r)]).toEqual([0.5, -1, 0.25]);
    expect([...tensorDelta(c, r, c)]).toEqual([0.5, -1, 0.25]);
  });

  it('carries BatchNorm tensors of an unfolded-BN layer, the variance as a log-space delta', () => {
    const fx = tinyConvNet();
    const clean = parseOnnx(fx.bytes, { file: 'clean.onnx' });
    const robust = parseOnnx(fx.bytes, { file: 'robust.onnx' });
    const bn = clean.layers()[0]!.batchNorm!;
    expect(bn).toBeTruthy();
    robust.setFloats(bn.var, Float32Array.from(clean.floats(bn.var), (v) => v * 2));
    const ex = extractFromModels(clean, robust, undefined, { ...opts, layers: 1 });
    const v = ex.signature.tensors.find((t) => t.name === bn.var)!;
    expect(v.mode).toBe('log');
    for (const x of v.values) expect(x).toBeCloseTo(Math.log(2), 6);
    expect(ex.signature.meta.batchNorm).toBe('log-variance');
  });

  it('refuses two models of different graphs, naming the tensor', () => {
    const a = parseOnnx(tinyConvNet().bytes, { file: 'clean.onnx' });
    const b = parseOnnx(smallResNet().bytes, { file: 'robust.onnx' });
    expect(() => extractFromModels(a, b, undefined, { ...opts, layers: 1 })).toThrow(/robust\.onnx: tensor ".+"/);
  });
});
