import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { RwsError } from '../../../main/core/errors.js';
import type { ConditionMix, PatchMode, Signature } from '../../../main/core/signature.js';
import { parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { chooseStrategy, Patcher, type PatchStrategy } from '../../../main/engine/runtime/patcher.js';
import { sessionOptions } from '../../../main/engine/runtime/session.js';
import { encodeModel, GraphBuilder, seededRandom, smallResNet, tinyConvNet } from '../../fixtures/models.js';

const THREADS = 2;
const STRATEGIES: PatchStrategy[] = ['inplace', 'head', 'session', 'inputs'];

/** SHA-256 of the little-endian f32 bytes, computed here rather than by the engine. */
function sha256(values: Float32Array): string {
  return createHash('sha256').update(Buffer.from(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
}

interface Spec {
  name: string;
  mode: PatchMode;
}

function makeSignature(id: string, model: OnnxModel, specs: Spec[], seed: number, scale = 0.05): Signature {
  const rand = seededRandom(seed);
  const baseHashes: Record<string, string> = {};
  const tensors = specs.map(({ name, mode }) => {
    const clean = model.floats(name);
    baseHashes[name] = sha256(clean);
    const values = new Float32Array(clean.length);
    for (let i = 0; i < values.length; i++) values[i] = (rand() * 2 - 1) * scale;
    return { name, shape: model.tensor(name).dims.map(Number), values, channelAxis: 0, mode };
  });
  return {
    meta: { format: 'rws/1', id, condition: id, severity: [1, 5], method: 'plain', layers: 2, quant: 'f32', baseHashes, batchNorm: 'none' },
    tensors,
  };
}

/** θ_clean + Σ α·δ (or θ_clean·exp(Σ α·δ) for `log`), from the raw arrays, into a fresh copy of the model. */
function patchedModelBytes(bytes: Uint8Array, signatures: Map<string, Signature>, mix: ConditionMix): Uint8Array {
  const model = parseOnnx(bytes, { file: 'expected.onnx' });
  const names = new Set([...signatures.values()].flatMap((s) => s.tensors.map((t) => t.name)));
  for (const name of names) {
    const clean = model.floats(name);
    const sum = new Float64Array(clean.length);
    let mode: PatchMode = 'add';
    for (const [id, alpha] of Object.entries(mix)) {
      const t = signatures.get(id)!.tensors.find((x) => x.name === name);
      if (!t) continue;
      mode = t.mode;
      for (let i = 0; i < sum.length; i++) sum[i] += alpha * t.values[i]!;
    }
    const out = new Float32Array(clean.length);
    for (let i = 0; i < out.length; i++) out[i] = mode === 'log' ? clean[i]! * Math.exp(sum[i]!) : clean[i]! + sum[i]!;
    model.setFloats(name, out);
  }
  return model.encode();
}

async function runPlain(bytes: Uint8Array, inputName: string, outputName: string, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, sessionOptions('cpu', THREADS));
  try {
    const out = await session.run({ [inputName]: new ort.Tensor('float32', input, dims) }, [outputName]);
    return (out[outputName] as ort.Tensor).data as Float32Array;
  } finally {
    await session.release();
  }
}

function randomInput(dims: number[], seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand());
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface Case {
  label: string;
  bytes: Uint8Array;
  inputName: string;
  outputName: string;
  dims: number[];
  /** Tensors each of the two signatures patches. */
  specs(model: OnnxModel): [Spec[], Spec[]];
}

const torchBytes = new Uint8Array(readFileSync(fileURLToPath(new URL('../../fixtures/torch-small.onnx', import.meta.url))));
const tiny = tinyConvNet();
const small = smallResNet();
const conv = (model: OnnxModel, i: number): Spec[] => {
  const l = model.layers()[i]!;
  return [{ name: l.weight, mode: 'add' }, ...(l.bias ? [{ name: l.bias, mode: 'add' as const }] : [])];
};

/** conv → Mul by a per-channel constant: onnxruntime folds the constant into the conv's weight. */
function convTimesConstant(): OnnxModel {
  const g = new GraphBuilder(13);
  const y = g.conv('input', 3, 16, 3, { name: '/conv' });
  g.node('Mul', [y, g.weight('gain', [16, 1, 1], Float32Array.from(g.uniform(16, 0.5), (v) => 1 + v))], {}, '/Mul');
  return parseOnnx(encodeModel(g.model({ name: 'input', shape: ['batch', 3, 8, 8] }, { name: 'out', shape: ['batch', 16, 8, 8] })), { file: 'scaled.onnx' });
}

const CASES: Case[] = [
  {
    label: 'tinyConvNet (unfolded BatchNorm, log-variance patch)',
    bytes: tiny.bytes,
    inputName: tiny.input.name,
    outputName: tiny.output,
    dims: [2, 1, 28, 28],
    specs: (m) => {
      const bn = m.layers()[0]!.batchNorm!;
      return [
        [...conv(m, 0), { name: bn.scale, mode: 'add' }, { name: bn.var, mode: 'log' }],
        [...conv(m, 0), ...conv(m, 1)],
      ];
    },
  },
  {
    label: 'smallResNet (BatchNorm folded)',
    bytes: small.bytes,
    inputName: small.input.name,
    outputName: small.output,
    dims: [3, 1, 28, 28],
    specs: (m) => [[...conv(m, 0), ...conv(m, 1)], [...conv(m, 0), ...conv(m, 1), ...conv(m, 2)]],
  },
  {
    label: 'smallResNet, first two convs (the cut crosses the residual: two tensors)',
    bytes: small.bytes,
    inputName: small.input.name,
    outputName: small.output,
    dims: [2, 1, 28, 28],
    specs: (m) => [[...conv(m, 0)], [...conv(m, 0), ...conv(m, 1)]],
  },
  {
    label: 'tinyConvNet, last layer (the head is the whole model)',
    bytes: tiny.bytes,
    inputName: tiny.input.name,
    outputName: tiny.output,
    dims: [2, 1, 28, 28],
    specs: (m) => {
      const last = m.layers().length - 1;
      return [[...conv(m, last)], [...conv(m, 0), ...conv(m, last)]];
    },
  },
  {
    label: 'torch-small.onnx (PyTorch export, onnx::Conv_N names, out-of-order initializers)',
    bytes: torchBytes,
    inputName: 'input',
    outputName: '',
    dims: [2, 1, 28, 28],
    specs: (m) => [[...conv(m, 0)], [...conv(m, 0), ...conv(m, 1)]],
  },
];

const MIXES: ConditionMix[] = [{ fog: 0.8 }, { fog: 0.8, rain: -0.5 }, { rain: 1.5 }, { fog: 0.8, rain: 0 }];

describe.each(CASES)('Patcher on $label', (c) => {
  let model: OnnxModel;
  let signatures: Map<string, Signature>;
  let input: Float32Array;
  let outputName: string;
  let plain: Float32Array;
  const expected = new Map<string, Float32Array>();

  beforeAll(async () => {
    model = parseOnnx(c.bytes, { file: `${c.label}.onnx` });
    outputName = c.outputName || model.outputs[0]!.name;
    const [a, b] = c.specs(model);
    signatures = new Map([
      ['fog', makeSignature('fog', model, a, 11)],
      ['rain', makeSignature('rain', model, b, 12)],
    ]);
    input = randomInput(c.dims, 5);
    plain = await runPlain(c.bytes, c.inputName, outputName, input, c.dims);
    for (const mix of MIXES) {
      expected.set(JSON.stringify(mix), await runPlain(patchedModelBytes(c.bytes, signatures, mix), c.inputName, outputName, input, c.dims));
    }
  });

  it.each(STRATEGIES)('strategy %s: each mix equals θ_clean + Σ αΔ, and {} equals the plain model exactly', async (strategy) => {
    const patcher = await Patcher.create(model, signatures, { strategy, threads: THREADS, device: 'cpu' });
    try {
      expect(patcher.strategy).toBe(strategy);
      expect(patcher.warnings).toEqual([]);
      expect(await patcher.run(input, c.dims)).toEqual(plain);
      for (const mix of MIXES) {
        await patcher.setMix(mix);
        const got = await patcher.run(input, c.dims);
        const want = expected.get(JSON.stringify(mix))!;
        expect(maxDiff(got, want)).toBeLessThanOrEqual(1e-5);
        // A patch that does nothing would pass the check above only if the deltas were too small to see.
        expect(maxDiff(got, plain)).toBeGreaterThan(1e-3);
      }
      expect(patcher.mix).toEqual({ fog: 0.8 });
      await patcher.setMix({});
      expect(await patcher.run(input, c.dims)).toEqual(plain);
      await patcher.setMix({ fog: 0, rain: 0 });
      expect(await patcher.run(input, c.dims)).toEqual(plain);
      expect(patcher.mix).toEqual({});
    } finally {
      await patcher.dispose();
    }
  });
});

describe('Patcher checks and bookkeeping', () => {
  const model = parseOnnx(small.bytes, { file: 'small.onnx' });
  const dims = [1, 1, 28, 28];
  const input = randomInput(dims, 9);
  const first = model.layers()[0]!;

  it('refuses a signature made for another model, naming the signature and the tensor', async () => {
    const sig = makeSignature('fog', model, conv(model, 0), 1);
    sig.meta.baseHashes[first.bias!] = '0'.repeat(64);
    const err = await Patcher.create(model, new Map([['fog', sig]]), { threads: THREADS }).catch((e) => e);
    expect(err).toBeInstanceOf(RwsError);
    expect((err as RwsError).code).toBe('signature-mismatch');
    expect((err as RwsError).message).toContain(`signature "fog": tensor "${first.bias}"`);
    expect((err as RwsError).field).toBe(first.bias);
  });

  it('refuses a tensor the model does not have', async () => {
    const sig = makeSignature('fog', model, conv(model, 0), 1);
    sig.tensors.push({ name: 'layer9.weight', shape: [2], values: new Float32Array(2), channelAxis: 0, mode: 'add' });
    await expect(Patcher.create(model, new Map([['fog', sig]]), { threads: THREADS })).rejects.toThrow(/signature "fog": tensor "layer9.weight" is not a weight of small.onnx/);
  });

  it('with force, a hash mismatch is a warning and the patch still applies; an absent tensor is skipped', async () => {
    const sig = makeSignature('fog', model, conv(model, 0), 1);
    sig.meta.baseHashes[first.weight] = 'f'.repeat(64);
    sig.tensors.push({ name: 'layer9.weight', shape: [2], values: new Float32Array(2), channelAxis: 0, mode: 'add' });
    const signatures = new Map([['fog', sig]]);
    for (const force of [true, ['fog']] as const) {
      const p = await Patcher.create(model, signatures, { force, threads: THREADS });
      try {
        expect(p.warnings).toHaveLength(2);
        expect(p.warnings[0]).toContain(`tensor "${first.weight}" was made for another base model`);
        expect(p.warnings[1]).toContain('tensor "layer9.weight" is not a weight');
        await p.setMix({ fog: 1 });
        const clean = new Map([['fog', { ...sig, tensors: sig.tensors.slice(0, 2) }]]);
        const want = await runPlain(patchedModelBytes(small.bytes, clean, { fog: 1 }), 'input', 'logits', input, dims);
        expect(maxDiff(await p.run(input, dims), want)).toBeLessThanOrEqual(1e-5);
      } finally {
        await p.dispose();
      }
    }
    await expect(Patcher.create(model, signatures, { force: ['rain'], threads: THREADS })).rejects.toThrow(/signature "fog"/);
  });

  it('setMix with the same mix is a no-op; unknown ids are refused; a disposed patcher refuses work', async () => {
    const p = await Patcher.create(model, new Map([['fog', makeSignature('fog', model, conv(model, 0), 1)]]), { threads: THREADS });
    expect(p.switches).toBe(0);
    await p.setMix({ fog: 0.5 });
    await p.setMix({ fog: 0.5 });
    expect(p.switches).toBe(1);
    await p.setMix({ fog: 0.6 });
    expect(p.switches).toBe(2);
    await p.setMix({});
    await p.setMix({ fog: 0.6 });
    // Back to a mix already applied: still one apply of the weights (the clean path is separate).
    expect(p.switches).toBe(3);
    await expect(p.setMix({ snow: 1 })).rejects.toMatchObject({ code: 'mix-unknown' });
    await expect(p.run(new Float32Array(3), dims)).rejects.toMatchObject({ code: 'input-shape' });
    expect(p.mix).toEqual({ fog: 0.6 });
    await p.dispose();
    await expect(p.run(input, dims)).rejects.toMatchObject({ code: 'patcher-disposed' });
  });

  it('runs and mix changes apply in call order, without waiting for each other', async () => {
    const sig = makeSignature('fog', model, conv(model, 0), 1);
    const signatures = new Map([['fog', sig]]);
    const want = await runPlain(patchedModelBytes(small.bytes, signatures, { fog: 1 }), 'input', 'logits', input, dims);
    for (const strategy of STRATEGIES) {
      const p = await Patcher.create(model, signatures, { threads: THREADS, strategy });
      const calls = [p.run(input, dims), p.setMix({ fog: 1 }), p.run(input, dims), p.setMix({}), p.run(input, dims)];
      const [a, , b, , c] = (await Promise.all(calls)) as Float32Array[];
      expect(maxDiff(b!, want)).toBeLessThanOrEqual(1e-5);
      expect(a).toEqual(c);
      expect(maxDiff(a!, want)).toBeGreaterThan(1e-3);
      await p.dispose();
    }
  });

  it('falls back to the CPU when the device cannot be used, and says why once', async () => {
    const devices = [
      { id: 'cpu' as const, name: 'CPU', available: true },
      { id: 'cuda' as const, name: 'CUDA', available: false, reason: 'the CUDA build of onnxruntime is not installed' },
    ];
    for (const strategy of ['head', 'auto'] as const) {
      const p = await Patcher.create(model, new Map([['fog', makeSignature('fog', model, conv(model, 0), 1)]]), { threads: THREADS, device: 'cuda', devices, strategy });
      expect(p.device).toBe('cpu');
      expect(p.strategy).toBe(strategy === 'auto' ? 'inplace' : 'head');
      expect(p.fallback).toBe('device "cuda" could not be used (the CUDA build of onnxruntime is not installed); running on the CPU instead');
      expect(p.warnings).toEqual([]);
      await p.setMix({ fog: 1 });
      expect(await p.run(input, dims)).toHaveLength(10);
      await p.dispose();
    }
  });

  it('auto patches in place on the CPU; without it, a small model re-creates its whole session', async () => {
    const p = await Patcher.create(model, new Map([['fog', makeSignature('fog', model, conv(model, 0), 1)]]), { threads: THREADS });
    expect(p.strategy).toBe('inplace');
    expect(p.strategyReason).toMatch(/^in place: 2 optimised weights written in place \(1 small Conv biases widened\)$/);
    expect(chooseStrategy(model, [first.weight])).toBe('session');
    await p.dispose();
  });

  it('auto falls back from in place when the weights onnxruntime runs are computed from a patched tensor, and says why', async () => {
    const m = convTimesConstant();
    const sig = makeSignature('fog', m, [{ name: '/conv.weight', mode: 'add' }], 3);
    await expect(Patcher.create(m, new Map([['fog', sig]]), { strategy: 'inplace', threads: THREADS })).rejects.toMatchObject({
      code: 'inplace-unsupported',
      message: expect.stringMatching(/^scaled\.onnx: in-place patching does not fit this model: the optimised initializer ".*" holds values computed from patched tensors/),
    });
    const p = await Patcher.create(m, new Map([['fog', sig]]), { threads: THREADS });
    expect(p.strategy).toBe('session');
    expect(p.strategyReason).toMatch(/^in-place patching was not used: scaled\.onnx: in-place patching does not fit this model: the optimised initializer ".*" holds values computed from patched tensors/);
    await p.setMix({ fog: 1 });
    const dims2 = [2, 3, 8, 8];
    const x = randomInput(dims2, 4);
    expect(maxDiff(await p.run(x, dims2), await runPlain(patchedModelBytes(m.encode(), new Map([['fog', sig]]), { fog: 1 }), 'input', 'out', x, dims2))).toBeLessThanOrEqual(1e-5);
    await p.dispose();
  });

  it('the inplace strategy on a device other than the CPU is refused', async () => {
    const devices = [
      { id: 'cpu' as const, name: 'CPU', available: true },
      { id: 'cuda' as const, name: 'CUDA', available: true },
    ];
    const sig = new Map([['fog', makeSignature('fog', model, conv(model, 0), 1)]]);
    await expect(Patcher.create(model, sig, { threads: THREADS, device: 'cuda', devices, strategy: 'inplace' })).rejects.toThrow(/small\.onnx: the inplace strategy runs on the CPU only \(device "cuda"\)/);
  });
});

describe('Patcher strategy choice on a ResNet-18-sized model', () => {
  it('auto takes the head + tail split', async () => {
    const { resnet18Like } = await import('../../fixtures/models.js');
    const big = parseOnnx(resnet18Like().bytes, { file: 'resnet18.onnx' });
    expect(chooseStrategy(big, [big.layers()[0]!.weight])).toBe('head');
  });
});
