import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Signature } from '../../../main/core/signature.js';
import { encodeSignature } from '../../../main/core/signature-codec.js';
import { corruptionOrder, evaluatePack } from '../../../main/engine/eval/evaluate.js';
import { reportHtml, reportText } from '../../../main/engine/eval/report.js';
import { parseOnnx } from '../../../main/engine/onnx/model.js';
import { hashTensor } from '../../../main/engine/signatures/tensor-hash.js';
import { RemotePatcher } from '../../../main/engine/runtime/remote-patcher.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';
import { accuracy, corruptedSet } from '../../../main/engine/eval/corrupted-set.js';
import { loadLabelledData } from '../../../main/engine/io/labelled-data.js';
import type { InputSpec } from '../../../main/engine/packs/pack.js';
import { createService } from '../../../main/service/index.js';
import { folderTestModel } from '../folder/fixtures.js';
import { compiledWorkerUrl } from '../runtime/compiled-worker.js';

const N = 40;
let dir: string;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
}

/** A signature adding `scale`·noise to the model's conv (weight, and bias when asked). */
function signature(id: string, model: ReturnType<typeof parseOnnx>, seed: number, withBias: boolean): Signature {
  const rnd = seeded(seed);
  const names = withBias ? ['conv.weight', 'conv.bias'] : ['conv.weight'];
  const tensors = names.map((name) => {
    const base = model.floats(name);
    return { name, shape: name === 'conv.weight' ? [8, 1, 3, 3] : [8], values: Float32Array.from(base, () => rnd() * 1.5), channelAxis: 0, mode: 'add' as const };
  });
  return {
    meta: {
      format: 'rws/1', id, condition: id, severity: [1, 5], method: 'finetune', layers: 1, quant: 'f32', batchNorm: 'none',
      baseHashes: Object.fromEntries(names.map((n) => [n, hashTensor(model.floats(n))])),
    },
    tensors,
  };
}

/** The model with θ + Σ α·Δ written into its initializers, built here from raw arrays. */
function patchedModel(bytes: Uint8Array, parts: [Signature, number][]): Uint8Array {
  const m = parseOnnx(bytes, { file: 'fixture.onnx' });
  const names = new Set(parts.flatMap(([s]) => s.tensors.map((t) => t.name)));
  for (const name of names) {
    const v = Float32Array.from(m.floats(name));
    for (const [s, a] of parts) {
      const t = s.tensors.find((x) => x.name === name);
      if (t) for (let i = 0; i < v.length; i++) v[i] = v[i]! + a * t.values[i]!;
    }
    m.setFloats(name, v);
  }
  return m.encode();
}

let sigs: { fog: Signature; dark: Signature };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rws-eval-'));
  const bytes = folderTestModel({ channels: 1, size: 28, classes: 10 });
  const model = parseOnnx(bytes, { file: 'model.onnx' });
  sigs = { fog: signature('fog', model, 5, true), dark: signature('low-light', model, 9, false) };
  const pack = path.join(dir, 'pack');
  await mkdir(path.join(pack, 'signatures'), { recursive: true });
  await writeFile(path.join(pack, 'model.onnx'), bytes);
  const files: Record<string, Uint8Array> = {};
  for (const s of [sigs.fog, sigs.dark]) {
    files[s.meta.id] = encodeSignature(s, 'f32');
    await writeFile(path.join(pack, 'signatures', `${s.meta.id}.rws.safetensors`), files[s.meta.id]!);
  }
  const labels = Array.from({ length: 10 }, (_, i) => `class ${i}`);
  await writeFile(
    path.join(pack, 'pack.json'),
    JSON.stringify({
      format: 'rws-pack/1', id: 'eval-test', name: 'Eval test', version: '1', task: 'classification', model: 'model.onnx',
      input: { name: 'input', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.3], std: [0.3], resize: 'fill' },
      output: { name: 'logits', kind: 'logits' },
      labels,
      signatures: Object.entries(files).map(([id, b]) => ({ id, condition: id, sha256: sha(b) })),
      conditions: [{ id: 'fog', name: 'Fog', mix: { fog: 1 } }, { id: 'low-light', name: 'Low light', mix: { 'low-light': 1 } }],
      mixes: [{ id: 'foggy-night', name: 'Foggy night', mix: { fog: 0.5, 'low-light': 0.5 } }],
    }),
  );
  // Robust references: the fog model is exactly θ + Δ_fog, the pair model θ + ½Δ_fog + ½Δ_dark.
  await mkdir(path.join(dir, 'robust'));
  await writeFile(path.join(dir, 'robust', 'fog.onnx'), patchedModel(bytes, [[sigs.fog, 1]]));
  await writeFile(path.join(dir, 'robust', 'low-light+fog.onnx'), patchedModel(bytes, [[sigs.fog, 0.5], [sigs.dark, 0.5]]));
  // The same images as IDX (gzipped) and as a labelled folder of PNGs.
  const rnd = seeded(3);
  const px = new Uint8Array(N * 784);
  const lab = new Uint8Array(N);
  for (let i = 0; i < N; i++) {
    lab[i] = i % 10;
    for (let k = 0; k < 784; k++) px[i * 784 + k] = Math.max(0, Math.min(255, Math.round(((k % 28) / 28 + (lab[i]! % 3) * 0.2 + rnd() * 0.3) * 200)));
  }
  const idxHead = (dims: number[]) => {
    const h = Buffer.alloc(4 + 4 * dims.length);
    h[2] = 8;
    h[3] = dims.length;
    dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
    return h;
  };
  await mkdir(path.join(dir, 'idx'));
  await writeFile(path.join(dir, 'idx', 't10k-images-idx3-ubyte.gz'), gzipSync(Buffer.concat([idxHead([N, 28, 28]), px])));
  await writeFile(path.join(dir, 'idx', 't10k-labels-idx1-ubyte'), Buffer.concat([idxHead([N]), lab]));
  for (let i = 0; i < N; i++) {
    const sub = path.join(dir, 'folder', i % 2 ? labels[lab[i]!]! : String(lab[i]));
    await mkdir(sub, { recursive: true });
    await sharp(Buffer.from(px.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(path.join(sub, `${String(i).padStart(3, '0')}.png`));
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('evaluatePack', () => {
  it('measures clean, patched and robust models, unpatches bit for bit, and sweeps α and layers', async () => {
    const r = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), robust: path.join(dir, 'robust'), severities: [2, 3], limit: N, threads: 1 });
    expect(r.data.images).toBe(N);
    expect(r.unpatch.bitIdentical).toBe(true);
    expect(r.unpatch.cleanAfterUnpatch).toBe(r.clean);
    const fog = r.conditions.find((c) => c.id === 'fog')!;
    for (const s of fog.severities) {
      // The robust model is θ + Δ built independently: the Patcher must agree with it exactly.
      expect(s.robust).toBe(s.patched);
      if (s.robust !== s.clean) expect(s.gapRecovered).toBeCloseTo(1, 10);
    }
    const s3 = fog.severities.find((s) => s.severity === 3)!;
    expect(fog.alpha.find((a) => a.alpha === 0)!.corrupted).toBe(s3.clean);
    expect(fog.alpha.find((a) => a.alpha === 0)!.clean).toBe(r.clean);
    expect(fog.alpha.find((a) => a.alpha === 1)!.corrupted).toBe(s3.patched);
    expect(fog.alpha.find((a) => a.alpha === 1)!.clean).toBe(fog.cleanWhilePatched);
    expect(fog.layers).toEqual([{ layers: 1, values: 80, corrupted: s3.patched }]);
    expect(fog.quant[0]).toMatchObject({ quant: 'f32', corrupted: s3.patched });
    // Low light has no robust model: no gap figure.
    expect(r.conditions.find((c) => c.id === 'low-light')!.severities[0]!.robust).toBeUndefined();
    const mix = r.composition.find((m) => m.id === 'foggy-night')!;
    // Fog and low light together are the foggy-night condition: its own images (its default family).
    expect(mix.corruptions).toEqual(['foggy-night']);
    expect(Object.keys(mix.singles).sort()).toEqual(['fog', 'low-light']);
    expect(mix.pairModel).toBe(mix.mixed);
    const text = reportText(r);
    expect(text).toMatch(/bit-identical: yes/);
    const html = await reportHtml(r);
    expect(html).toMatch(/<canvas id="alpha"/);
    expect(html).toMatch(/Chart\.js v4/);
    expect(html).not.toMatch(/<script src=/);
  });

  it('reads a labelled folder (class names or indices) like the IDX files', async () => {
    const a = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), conditions: ['fog'], severities: [1], mixes: [], limit: N, threads: 1 });
    const b = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'folder'), conditions: ['fog'], severities: [1], mixes: [], limit: N, threads: 1 });
    expect(b.data.images).toBe(N);
    // Same images in another order: the same accuracy on clean data.
    expect(b.clean).toBe(a.clean);
  });

  it('measures each condition on its generator families too, with a family robust model where there is one', async () => {
    await writeFile(path.join(dir, 'robust', 'fog@physical.onnx'), patchedModel(folderTestModel({ channels: 1, size: 28, classes: 10 }), [[sigs.fog, 1]]));
    const r = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), robust: path.join(dir, 'robust'), conditions: ['fog', 'low-light'], families: ['all'], severities: [2, 4.5 as never], mixes: [], limit: N, threads: 1 });
    const fog = r.conditions.find((c) => c.id === 'fog')!;
    expect(fog.families!.map((f) => [f.family, f.lineage, f.corruptions])).toEqual([
      ['rws-v1', 'imagenet-c', ['fog/rws-v1']],
      ['physical', 'physical', ['fog/physical']],
      ['imagenet-c', 'imagenet-c', ['fog/imagenet-c']],
      ['display-haze', 'display-haze', ['fog/display-haze']],
    ]);
    // Every family row also carries Auto and the best of the pack's mixes chosen with hindsight.
    const ids = ['clean', 'fog', 'low-light', 'foggy-night'];
    for (const f of fog.families!) {
      for (const s of f.severities) {
        expect(Number.isFinite(s.auto)).toBe(true);
        expect(ids).toContain(s.autoPick);
        expect(ids).toContain(s.best!.id);
      }
    }
    expect(fog.families![1]!.severities.map((s) => s.severity)).toEqual([2, 4.5]);
    // θ + Δ_fog is the physical family's robust model: the patched model equals it exactly.
    for (const s of fog.families![1]!.severities) expect(s.robust).toBe(s.patched);
    expect(fog.families![2]!.severities[0]!.robust).toBeUndefined();
    const only = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), conditions: ['low-light'], families: ['physical'], severities: [3], mixes: [], limit: 8, threads: 1 });
    expect(only.conditions[0]!.families!.map((f) => f.family)).toEqual(['physical']);
    expect(reportText(only)).toMatch(/low-light \/ physical/);
  });

  const r2spec = (): InputSpec => ({ name: 'input', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.3], std: [0.3], resize: 'fill' });
  it('adds the left-out signature and the recipe peers to the family rows', async () => {
    // A "left-out" fog signature at half the strength, for the physical lineage only.
    const lofo = path.join(dir, 'lofo');
    await mkdir(lofo, { recursive: true });
    const half: Signature = { ...sigs.fog, tensors: sigs.fog.tensors.map((t) => ({ ...t, values: Float32Array.from(t.values, (v) => v / 2) })) };
    await writeFile(path.join(lofo, 'fog@physical.rws.safetensors'), encodeSignature(half, 'f32'));
    await writeFile(path.join(dir, 'robust', 'fog@physical.onnx'), patchedModel(folderTestModel({ channels: 1, size: 28, classes: 10 }), [[sigs.fog, 1]]));
    const peers = path.join(dir, 'figures.json');
    const peer = { clean: 0.1, robust: 0.9, patched: 0.8, lofo: 0.7, bn: 0.3, bn_clean: 0.85, tent: 0.35, tent_clean: 0.8, rws_bn: 0.82, rws_bn_clean: 0.88 };
    await writeFile(peers, JSON.stringify({ conditions: { fog: { families: { physical: { strengths: { '2': peer } } } } } }));
    const r = await evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), robust: path.join(dir, 'robust'), lofo, peers, conditions: ['fog'], families: ['physical', 'imagenet-c'], severities: [2], mixes: [], limit: N, threads: 1 });
    const [physical, imagenetC] = r.conditions[0]!.families!;
    const row = physical!.severities[0]!;
    // The left-out figure is θ + ½Δ_fog on the same images: the pack's fog signature at α = ½, computed here.
    const model = parseOnnx(await readFile(path.join(dir, 'pack', 'model.onnx')), { file: 'model.onnx' });
    const patcher = await Patcher.create(model, new Map([['fog', sigs.fog]]), { threads: 1 });
    try {
      const data = await loadLabelledData(path.join(dir, 'idx'), r2spec(), Array.from({ length: 10 }, (_, i) => `class ${i}`), N);
      await patcher.setMix({ fog: 0.5 });
      expect(row.lofo).toBe(await accuracy(patcher, corruptedSet(data.images, data.labels, r2spec(), ['fog/physical'], 2, 0), 10));
    } finally {
      await patcher.dispose();
    }
    expect(row.robust).toBeDefined();
    if (row.robust !== row.clean) expect(row.gapLofo).toBeCloseTo((row.lofo! - row.clean) / (row.robust! - row.clean), 12);
    else expect(row.gapLofo).toBeUndefined();
    expect(row.peers).toEqual({ clean: 0.1, robust: 0.9, patched: 0.8, lofo: 0.7, bn: 0.3, bnClean: 0.85, tent: 0.35, tentClean: 0.8, rwsBn: 0.82, rwsBnClean: 0.88 });
    // No left-out signature and no recipe figures for ImageNet-C fog: those columns stay empty.
    expect(imagenetC!.severities[0]!.lofo).toBeUndefined();
    expect(imagenetC!.severities[0]!.peers).toBeUndefined();
    const text = reportText(r);
    expect(text).toMatch(/left out/);
    expect(text).toMatch(/test-time peers/);
    expect(await reportHtml(r)).toMatch(/patched \(family left out\)/);
  });

  it('refuses an unknown condition and data that is neither IDX nor class folders, naming them', async () => {
    await expect(evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'idx'), conditions: ['hail'], limit: 4 })).rejects.toThrow(/"hail" is neither a condition nor a signature/);
    await expect(evaluatePack({ pack: path.join(dir, 'pack'), data: path.join(dir, 'pack', 'model.onnx'), limit: 4 })).rejects.toThrow(/model\.onnx: not IDX images/);
  });

  it('applies the light first when a mix combines conditions', () => {
    expect(corruptionOrder(['fog', 'low-light'])).toEqual(['low-light', 'fog']);
    expect(corruptionOrder(['rain', 'snow'])).toEqual(['rain', 'snow']);
  });
});

describe('one evaluation', () => {
  it("the app's evaluate command and rws eval give the same numbers for the same pack, data and seed", async () => {
    // The shipped pack (its signatures copied beside it) on its sample images, labelled by folder.
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
    const shipped = path.join(root, 'native-models', 'fashion-mnist');
    const pack = path.join(dir, 'shipped');
    await cp(shipped, pack, { recursive: true, filter: (f) => !f.includes(`${path.sep}samples`) });
    await cp(path.join(root, 'signatures', 'fashion-mnist'), path.join(pack, 'signatures'), { recursive: true });
    const labels = (await readFile(path.join(shipped, 'labels.txt'), 'utf8')).trim().split('\n');
    const data = path.join(dir, 'samples');
    for (const kind of ['clean', 'fog', 'low-light']) {
      for (const f of await readdir(path.join(shipped, 'samples', kind))) {
        const index = labels.findIndex((l) => l.toLowerCase().replace(/\/.*$/, '').replace(/\s+/g, '-') === f.replace(/\.png$/, ''));
        expect(index, f).toBeGreaterThanOrEqual(0);
        await mkdir(path.join(data, String(index)), { recursive: true });
        await cp(path.join(shipped, 'samples', kind, f), path.join(data, String(index), `${kind}-${f}`));
      }
    }
    const workerUrl = compiledWorkerUrl();
    const service = await createService({
      roots: [dir],
      packDir: pack,
      classifierFactory: (m, sigs, o) => RemotePatcher.create(m, sigs, { device: o.device, force: o.force, threads: 1, workerUrl }),
    });
    try {
      const seen = new Set<string>();
      for (const seed of [0, 7]) {
        const conditions = ['fog', 'low-light', 'noise'];
        const app = await service.call('evaluate', { data, conditions, severities: [2, 5], limit: 100, seed });
        const cli = await evaluatePack({ pack, data, conditions, severities: [2, 5], mixes: [], limit: 100, seed, threads: 1 });
        expect(app.samples).toBe(30);
        expect(app.cleanAccuracy).toBe(cli.clean);
        expect(app.conditions.map((c) => [c.id, c.points])).toEqual(cli.conditions.map((c) => [c.id, c.severities.map((r) => ({ severity: r.severity, clean: r.clean, patched: r.patched }))]));
        for (const c of cli.conditions) for (const r of c.severities) seen.add(`${r.clean}/${r.patched}`);
      }
      // The numbers vary with condition, severity and patch: equal reports are not equal by accident.
      expect(seen.size).toBeGreaterThan(3);
    } finally {
      await service.dispose();
    }
  });
});
