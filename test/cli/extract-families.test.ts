// rws extract / inspect / patch on torch exports: layers by name, energy kept, what is dropped.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSignature } from '../../main/core/signature-codec.js';
import { parseOnnx } from '../../main/engine/onnx/model.js';
import { familyFiles, familyInput, maxDiff, torchOutputs } from '../fixtures/families.js';
import { encodeModel, GraphBuilder } from '../fixtures/models.js';
import { rws } from './cli-harness.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rws-families-'));
});

const vit = familyFiles(['vit']).find((f) => f.form === 'unfolded' && f.batch === 'dynamic')!;

describe('rws extract on a ViT exported with BatchNorm kept (weights behind Transposes)', () => {
  it('--layers auto keeps the attention and MLP weights and all of the energy', async () => {
    const out = path.join(dir, 'vit.rws.safetensors');
    const r = await rws('extract', '--clean', vit.file, '--robust', vit.robustFile, '--condition', 'fog', '--quant', 'f32', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/energy share kept: 100\.00%/);
    expect(r.stdout).toMatch(/layer 4 MatMul \/layers\/layers\.0\/self_attention\/MatMul\n\s+layers\.0\.self_attention\.in_proj_weight/);
    const names = decodeSignature(readFileSync(out), out).tensors.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['class_token', 'pos_embedding', 'layers.0.ln_1.weight', 'layers.0.self_attention.in_proj_weight', 'layers.0.mlp.3.weight']));
  });

  it('--layers K below the energy share warns, naming the largest tensors it dropped, and still writes the signature', async () => {
    const out = path.join(dir, 'vit-2.rws.safetensors');
    const r = await rws('extract', '--clean', vit.file, '--robust', vit.robustFile, '--condition', 'fog', '--layers', '2', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: the kept layers hold \d+\.\d\d% of the delta's energy, below --energy 95\.00%; dropped: layers\.0\.self_attention\.in_proj_weight \(\d+\.\d\d%\), /);
    expect(r.stderr).toMatch(/ and \d+ more\n$/);
    expect(decodeSignature(readFileSync(out), out).meta.layers).toBe(2);
  });

  it('--layers takes node or tensor names and patterns; one that matches nothing is a usage error', async () => {
    const out = path.join(dir, 'vit-named.rws.safetensors');
    const r = await rws('extract', '--clean', vit.file, '--robust', vit.robustFile, '--condition', 'fog', '--layers', '/conv_proj/*,class_token,pos_embedding,/layers/layers.0/*', '--quant', 'f32', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/kept 9 of 17 layers \(by name:/);
    expect(r.stderr).toBe('');
    const bad = await rws('extract', '--clean', vit.file, '--robust', vit.robustFile, '--condition', 'fog', '--layers', '/features/*', '--out', out);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--layers: "\/features\/\*" matches no layer of .*vit-unfolded-dynamic\.onnx/);
  });

  it('--layers auto refuses when the energy lies in tensors that cannot be patched, naming them', async () => {
    // A learned temperature (one number) is a constant to the layer list, not a weight.
    const make = (t: number) => {
      const g = new GraphBuilder(12);
      let x = g.conv('input', 1, 4, 3, { name: '/conv' });
      x = g.node('GlobalAveragePool', [x], {}, '/gap');
      x = g.node('Flatten', [x], { axis: 1 }, '/flatten');
      x = g.gemm(x, 4, 3, '/fc');
      g.node('Mul', [x, g.weight('temperature', [1], Float32Array.of(t))], {}, '/scale/Mul');
      return encodeModel(g.model({ name: 'input', shape: ['batch', 1, 8, 8] }, { name: 'logits', shape: ['batch', 3] }));
    };
    const clean = path.join(dir, 'temp-clean.onnx');
    const robust = path.join(dir, 'temp-robust.onnx');
    writeFileSync(clean, make(1));
    const r = parseOnnx(make(5), { file: robust });
    r.setFloats('/conv.weight', Float32Array.from(r.floats('/conv.weight'), (v) => v + 0.01));
    writeFileSync(robust, r.encode());
    const refused = await rws('extract', '--clean', clean, '--robust', robust, '--condition', 'fog', '--out', path.join(dir, 'temp.rws.safetensors'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/temp-robust\.onnx: even all 2 layers of .*temp-clean\.onnx hold only \d+\.\d\d% of the delta's energy, below --energy 95\.00%: the rest is in tensors that cannot be patched: temperature \(\d+\.\d\d%, in no layer\)/);
  });
});

describe('rws inspect on torch exports', () => {
  it('shows each layer with its node name, shape, kernel, stride and groups', async () => {
    const regnet = familyFiles(['regnet'])[0]!;
    const r = await rws('inspect', regnet.file);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n\s+0 Conv\s+\/stem\/stem\.0\/Conv\s+\[8×3×3×3\] k3×3 s2×2\s+onnx::Conv_\d+ \+ bias\n/);
    expect(r.stdout).toMatch(/\/trunk\/trunk\.0\/b\/b\.0\/Conv\s+\[16×4×3×3\] k3×3 s2×2 groups 4/);
    const json = JSON.parse((await rws('inspect', regnet.file, '--json')).stdout);
    expect(json.layers[0]).toMatchObject({ index: 0, node: '/stem/stem.0/Conv', op: 'Conv', shape: [8, 3, 3, 3], groups: 1, kernel: [3, 3], stride: [2, 2] });
  });
});

describe('rws patch on an SSDLite-like detector (two outputs)', () => {
  for (const f of familyFiles(['ssdlite']).filter((x) => x.batch === 'fixed')) {
    it(`${f.stem}: extract, patch, and both outputs equal torch's robust model`, async () => {
      const sig = path.join(dir, `${f.stem}.rws.safetensors`);
      expect((await rws('extract', '--clean', f.file, '--robust', f.robustFile, '--condition', 'fog', '--quant', 'f32', '--energy', '1', '--out', sig)).code).toBe(0);
      const out = path.join(dir, `${f.stem}.patched.onnx`);
      const r = await rws('patch', '--model', f.file, '--signature', sig, '--out', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const session = await ort.InferenceSession.create(out);
      const x = familyInput(1);
      const y = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', x.data, x.dims) });
      expect(session.outputNames).toEqual(['boxes', 'scores']);
      session.outputNames.forEach((name, i) => expect(maxDiff(y[name]!.data as Float32Array, torchOutputs('ssdlite', 'robust', 1)[i]!)).toBeLessThanOrEqual(1e-5));
      await session.release();
    });
  }
});
