import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { encodeSignature } from '../../../main/core/signature-codec.js';
import type { Signature } from '../../../main/core/signature.js';
import { parseOnnx, type OnnxModel } from '../../../main/engine/onnx/model.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';
import { RemotePatcher } from '../../../main/engine/runtime/remote-patcher.js';
import { seededRandom, smallResNet } from '../../fixtures/models.js';
import { compiledWorkerUrl } from './compiled-worker.js';

const THREADS = 2;
const fixture = smallResNet();
const dims = [4, 1, 28, 28];

function signature(id: string, model: OnnxModel, layers: number[], seed: number): Signature {
  const rand = seededRandom(seed);
  const baseHashes: Record<string, string> = {};
  const names = layers.flatMap((i) => {
    const l = model.layers()[i]!;
    return [l.weight, l.bias!];
  });
  const tensors = names.map((name) => {
    const clean = model.floats(name);
    baseHashes[name] = createHash('sha256').update(Buffer.from(clean.buffer, clean.byteOffset, clean.byteLength)).digest('hex');
    return { name, shape: model.tensor(name).dims.map(Number), values: Float32Array.from(clean, () => (rand() * 2 - 1) * 0.05), channelAxis: 0, mode: 'add' as const };
  });
  return { meta: { format: 'rws/1', id, condition: id, severity: [1, 5], method: 'plain', layers: layers.length, quant: 'f32', baseHashes, batchNorm: 'none' }, tensors };
}

function input(n: number, seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n * 28 * 28 }, () => rand());
}

describe('RemotePatcher', () => {
  let dir: string;
  let modelPath: string;
  let files: Map<string, string>;
  let workerUrl: URL;
  let remote: RemotePatcher;
  let local: Patcher;

  beforeAll(async () => {
    workerUrl = compiledWorkerUrl();
    dir = mkdtempSync(path.join(tmpdir(), 'rws-remote-'));
    modelPath = path.join(dir, 'model.onnx');
    writeFileSync(modelPath, fixture.bytes);
    const model = parseOnnx(fixture.bytes, { file: modelPath });
    files = new Map();
    for (const [id, layers, seed] of [['fog', [0, 1], 1], ['rain', [0], 2]] as const) {
      const file = path.join(dir, `${id}.rws.safetensors`);
      writeFileSync(file, encodeSignature(signature(id, model, [...layers], seed), 'f32'));
      files.set(id, file);
    }
    const bad = signature('snow', model, [0], 3);
    bad.meta.baseHashes[model.layers()[0]!.weight] = 'a'.repeat(64);
    writeFileSync(path.join(dir, 'snow.rws.safetensors'), encodeSignature(bad, 'f32'));
    remote = await RemotePatcher.create(modelPath, files, { threads: THREADS, workerUrl });
    local = await Patcher.open(modelPath, files, { threads: THREADS });
  });

  afterAll(async () => {
    await remote?.dispose();
    await local?.dispose();
  });

  it('gives the same outputs as the Patcher on this thread, for every mix', async () => {
    expect(remote.strategy).toBe(local.strategy);
    expect(remote.device).toBe('cpu');
    expect(remote.signatureIds).toEqual(['fog', 'rain']);
    const x = input(4, 7);
    for (const mix of [{}, { fog: 0.7 }, { fog: 0.7, rain: -1 }, { rain: 2 }, {}] as Record<string, number>[]) {
      await remote.setMix(mix);
      await local.setMix(mix);
      expect(remote.mix).toEqual(local.mix);
      expect(await remote.run(x, dims)).toEqual(await local.run(x, dims));
    }
  });

  it('transfers the input when asked (the caller’s array is detached) and the output without a copy', async () => {
    await remote.setMix({ fog: 1 });
    await local.setMix({ fog: 1 });
    const x = input(4, 8);
    const want = await local.run(x.slice(), dims);
    const got = await remote.run(x, dims, { transfer: true });
    expect(x.length).toBe(0);
    expect(got).toEqual(want);
    expect(got.buffer.byteLength).toBe(got.byteLength);
    const y = input(4, 8);
    expect(await remote.run(y, dims)).toEqual(want);
    expect(y.length).toBe(4 * 28 * 28);
    // A view into a larger buffer: only the view crosses, the caller's buffer stays usable.
    const padded = new Float32Array(10 + y.length);
    padded.set(y, 10);
    expect(await remote.run(padded.subarray(10), dims, { transfer: true })).toEqual(want);
    expect(padded.length).toBe(10 + y.length);
  });

  it('keeps concurrent runs of different sizes apart while it reuses input buffers', async () => {
    await remote.setMix({ rain: 0.5 });
    await local.setMix({ rain: 0.5 });
    // Sizes alternate and several runs are in flight at once: a reused buffer handed to two runs,
    // or one of the wrong size, would give some run another's scores.
    const sizes = [4, 1, 4, 2, 4, 1, 3, 4, 2, 4];
    const inputs = sizes.map((n, i) => input(n, 20 + i));
    const want: Float32Array[] = [];
    for (const [i, x] of inputs.entries()) want.push(await local.run(x, [sizes[i]!, 1, 28, 28]));
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(inputs.map((x, i) => remote.run(x, [sizes[i]!, 1, 28, 28], { transfer: round === 1 && i % 2 === 0 })));
      got.forEach((g, i) => expect(g, `round ${round}, run ${i}`).toEqual(want[i]));
      if (round === 1) for (let i = 0; i < inputs.length; i += 2) inputs[i] = input(sizes[i]!, 20 + i);
    }
    // Without transfer the caller's arrays are left as they were.
    expect(inputs.map((x) => x.length)).toEqual(sizes.map((n) => n * 28 * 28));
  });

  it('brings errors back as RwsError with their code and message', async () => {
    const unknown = await remote.setMix({ hail: 1 }).catch((e) => e);
    expect(unknown).toBeInstanceOf(RwsError);
    expect(unknown).toMatchObject({ code: 'mix-unknown', field: 'hail' });
    expect(unknown.message).toContain('no signature "hail"');
    await expect(remote.run(new Float32Array(5), dims)).rejects.toMatchObject({ code: 'input-shape' });

    const snow = path.join(dir, 'snow.rws.safetensors');
    const mismatch = await RemotePatcher.create(modelPath, [snow], { threads: 1, workerUrl }).catch((e) => e);
    expect(mismatch).toBeInstanceOf(RwsError);
    expect(mismatch.code).toBe('signature-mismatch');
    expect(mismatch.message).toContain(`signature "snow": tensor "`);

    const missing = path.join(dir, 'nope.onnx');
    await expect(RemotePatcher.create(missing, [], { threads: 1, workerUrl })).rejects.toMatchObject({ code: 'onnx-read', file: missing });

    const forced = await RemotePatcher.create(modelPath, [snow], { threads: 1, workerUrl, force: ['snow'] });
    expect(forced.warnings[0]).toContain('was made for another base model');
    await forced.dispose();
    await expect(forced.run(input(1, 1), [1, 1, 28, 28])).rejects.toMatchObject({ code: 'patcher-disposed' });
  });

  it('keeps the main thread free while the worker runs a batch', async () => {
    // The worker holds the run at a gate this thread opens: while it is held, this thread runs
    // timers and immediates, so the run cannot be blocking it; opened, the run completes.
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const held = await RemotePatcher.create(modelPath, [], { threads: 1, workerUrl, runGate: gate });
    try {
      const x = input(64, 9);
      let settled = false;
      const run = held.run(x, [64, 1, 28, 28]).finally(() => (settled = true));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 0));
      expect(settled).toBe(false);
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await local.setMix({});
      expect(await run).toEqual(await local.run(x, [64, 1, 28, 28]));
    } finally {
      await held.dispose();
    }
  });
});
