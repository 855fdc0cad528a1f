import { describe, expect, it } from 'vitest';
import { conditionFeatures } from '../../../main/core/condition-features.js';
import { corrupt, type Image } from '../../../main/core/corruptions/index.js';
import { isRwsError } from '../../../main/core/errors.js';
import { mixSeed } from '../../../main/core/random.js';
import { AutoMix, chooseByEntropy, imagesFromInput, meanEntropy, packCandidates, runAuto, type MixRunner } from '../../../main/engine/auto/mix.js';
import { toTensor } from '../../../main/engine/io/image-decode.js';
import { parsePackManifest, type InputSpec, type PackManifest } from '../../../main/engine/packs/pack.js';
import { smallClassifier, syntheticItems, TEST_CONDITIONS } from './fixtures.js';

const HASH = 'a'.repeat(64);

function manifest(withClassifier = true, extra: Record<string, unknown> = {}): PackManifest {
  const sigIds = TEST_CONDITIONS.map((c) => `${c}-sig`);
  return parsePackManifest(
    JSON.stringify({
      format: 'rws-pack/1',
      id: 'test-pack',
      name: 'Test',
      version: '1',
      task: 'classification',
      model: 'model.onnx',
      input: { name: 'x', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.5], std: [0.25], resize: 'fill' },
      output: { name: 'y', kind: 'logits' },
      labels: ['a', 'b'],
      signatures: TEST_CONDITIONS.map((c, i) => ({ id: sigIds[i], condition: c, sha256: HASH })),
      // fog is a named condition with its own strength; the others come from their signatures.
      conditions: [{ id: 'fog', name: 'Fog', mix: { 'fog-sig': 0.8 } }],
      ...(withClassifier ? { autoMix: { classifier: smallClassifier(), ...extra } } : {}),
    }),
    'pack.json',
  );
}

const fresh = syntheticItems(400, 99);
const item = (i: number): Image => fresh[i % fresh.length]!;

describe('AutoMix', () => {
  it('lists the pack conditions and the signatures no condition covers as candidates', () => {
    const c = packCandidates(manifest(false));
    expect(c.find((x) => x.id === 'fog')!.mix).toEqual({ 'fog-sig': 0.8 });
    expect(c.find((x) => x.id === 'rain')!.mix).toEqual({ 'rain-sig': 1 });
    expect(c).toHaveLength(TEST_CONDITIONS.length);
  });

  it('refuses a pack without a classifier, naming the field', () => {
    try {
      AutoMix.fromPack(manifest(false), {}, 'packs/x/pack.json');
      expect.unreachable();
    } catch (e) {
      expect(isRwsError(e) && e.code).toBe('auto-unavailable');
      expect((e as Error).message).toContain('packs/x/pack.json');
      expect((e as Error).message).toContain('autoMix.classifier');
    }
  });

  it('refuses a classifier trained on other features', () => {
    const m = manifest();
    m.autoMix!.classifier!.features = 'cf/0';
    expect(() => AutoMix.fromPack(m)).toThrow(/retrain/);
  });

  it('keeps the clean model on clean images (≥ 95% of single images)', () => {
    const auto = AutoMix.fromPack(manifest());
    let clean = 0;
    for (let i = 0; i < 200; i++) if (auto.classify(item(i)).id === 'clean') clean++;
    expect(clean / 200).toBeGreaterThanOrEqual(0.95);
    // As a stream, it never leaves clean.
    for (let i = 0; i < 200; i++) expect(auto.observe(item(i)).id).toBe('clean');
    expect(auto.current.mix).toEqual({});
  });

  it.each(TEST_CONDITIONS)('recognises %s at severity 3 and picks its mix', (cond) => {
    const auto = AutoMix.fromPack(manifest());
    let right = 0;
    for (let i = 0; i < 60; i++) if (auto.classify(corrupt(item(i), cond, 3, mixSeed(7, i))).id === cond) right++;
    expect(right / 60).toBeGreaterThanOrEqual(0.85);
    const batch = Array.from({ length: 16 }, (_, i) => corrupt(item(100 + i), cond, 3, mixSeed(8, i)));
    const choice = auto.observe(batch);
    expect(choice.id).toBe(cond);
    expect(choice.switched).toBe(true);
    expect(choice.mix).toEqual(cond === 'fog' ? { 'fog-sig': 0.8 } : { [`${cond}-sig`]: 1 });
    expect(choice.severity).toBeGreaterThan(1.5);
    expect(choice.severity).toBeLessThan(4.5);
  });

  it('follows a stream from clean to fog within 10 frames and back, without flicker', () => {
    const auto = AutoMix.fromPack(manifest());
    const ids: string[] = [];
    let switches = 0;
    for (let f = 0; f < 90; f++) {
      const phase = f < 30 ? 'clean' : f < 60 ? 'fog' : 'noise';
      const img = phase === 'clean' ? item(f) : corrupt(item(f), phase, 3, mixSeed(9, f));
      const c = auto.observe(img);
      ids.push(c.id);
      if (c.switched) switches++;
    }
    expect(ids.slice(0, 30).every((id) => id === 'clean')).toBe(true);
    expect(ids.indexOf('fog')).toBeGreaterThanOrEqual(30);
    expect(ids.indexOf('fog')).toBeLessThan(40);
    expect(ids.slice(40, 60).every((id) => id === 'fog')).toBe(true);
    expect(ids.indexOf('noise')).toBeLessThan(70);
    expect(ids.slice(70).every((id) => id === 'noise')).toBe(true);
    expect(switches).toBe(2);
  });

  it('scales the mix by the pack α for the estimated severity', () => {
    const auto = AutoMix.fromPack(manifest(true, { alpha: { rain: [0.5, 0.5, 1, 1.5, 1.5] } }));
    expect(auto.mixFor('rain', 1)).toEqual({ 'rain-sig': 0.5 });
    expect(auto.mixFor('rain', 3.5)).toEqual({ 'rain-sig': 1.25 });
    expect(auto.mixFor('fog', 3)).toEqual({ 'fog-sig': 0.8 });
    expect(auto.mixFor('clean', 3)).toEqual({});
  });

  it('only chooses conditions whose signatures are available', () => {
    const auto = AutoMix.fromPack(manifest(), { available: ['noise-sig'] });
    const batch = Array.from({ length: 16 }, (_, i) => corrupt(item(i), 'fog', 3, mixSeed(10, i)));
    expect(auto.observe(batch).id).toBe('clean');
    const noisy = Array.from({ length: 16 }, (_, i) => corrupt(item(i), 'noise', 3, mixSeed(11, i)));
    expect(auto.observe(noisy).id).toBe('noise');
  });
});

describe('imagesFromInput', () => {
  it('undoes the input normalisation of a batch (NCHW grey and NHWC BGR)', () => {
    const grey: InputSpec = manifest(false).input;
    const a = fresh[0]!;
    const px = Uint8Array.from(a.data, (v) => Math.round(v * 255));
    const t = toTensor(px, 1, grey);
    const both = new Float32Array(2 * t.length);
    both.set(t);
    both.set(t, t.length);
    const back = imagesFromInput(both, [2, 1, 28, 28], grey);
    expect(back).toHaveLength(2);
    for (let i = 0; i < px.length; i++) expect(back[1]!.data[i]! * 255).toBeCloseTo(px[i]!, 3);
    const want = conditionFeatures({ ...a, data: Float32Array.from(px, (v) => v / 255) });
    conditionFeatures(back[0]!).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 3));

    const bgr: InputSpec = { ...grey, layout: 'NHWC', width: 2, height: 1, channels: 3, colorSpace: 'bgr', range: [0, 255], mean: [100, 110, 120], std: [50, 60, 70] };
    const rgb = Uint8Array.from([10, 20, 30, 200, 150, 100]);
    const img = imagesFromInput(toTensor(rgb, 3, bgr), [1, 1, 2, 3], bgr)[0]!;
    expect(Array.from(img.data, (v) => Math.round(v * 255))).toEqual(Array.from(rgb));
  });

  it('refuses a tensor that is not whole images', () => {
    expect(() => imagesFromInput(new Float32Array(10), [1, 1, 28, 28], manifest(false).input)).toThrow(/not 1 images/);
  });
});

describe('chooseByEntropy', () => {
  it('picks the mix whose predictions are the most confident and leaves it applied', async () => {
    const applied: string[] = [];
    let mix: Record<string, number> = {};
    const runner: MixRunner = {
      setMix: async (m) => {
        mix = m;
        applied.push(Object.keys(m).join(',') || 'clean');
      },
      // Two images, two classes: confident only with rain-sig.
      run: async () => (mix['rain-sig'] ? Float32Array.from([5, 0, 0, 5]) : Float32Array.from([0.1, 0, 0, 0.2])),
    };
    const r = await chooseByEntropy(runner, new Float32Array(4), [2, 2], [
      { id: 'fog', mix: { 'fog-sig': 1 } },
      { id: 'rain', mix: { 'rain-sig': 1 } },
    ]);
    expect(r.id).toBe('rain');
    expect(applied).toEqual(['clean', 'fog-sig', 'rain-sig', 'rain-sig']);
    expect(r.entropy.rain).toBeLessThan(r.entropy.clean!);
    expect(Array.from(r.logits)).toEqual([5, 0, 0, 5]);
  });

  it('computes the mean entropy of softmax rows', () => {
    expect(meanEntropy(Float32Array.from([0, 0, 0, 0]), 2)).toBeCloseTo(Math.log(2), 6);
    expect(meanEntropy(Float32Array.from([100, 0]), 1)).toBeCloseTo(0, 6);
  });
});

describe('runAuto', () => {
  const spec = manifest(false).input;
  /** A fake model whose one output per image is the image's first value plus 100 × its mix's strength sum. */
  function fakeRunner(): MixRunner & { mixes: string[] } {
    let mix: Record<string, number> = {};
    const mixes: string[] = [];
    return {
      mixes,
      setMix: async (m) => {
        mix = m;
        mixes.push(Object.keys(m).join(',') || 'clean');
      },
      run: async (x, d) => {
        const per = x.length / d[0]!;
        const bump = 100 * Object.values(mix).reduce((a, b) => a + b, 0);
        return Float32Array.from({ length: d[0]! }, (_, i) => x[i * per]! + bump);
      },
    };
  }
  function batchOf(images: Image[]): Float32Array {
    const per = 28 * 28;
    const out = new Float32Array(images.length * per);
    images.forEach((img, i) => out.set(toTensor(Uint8Array.from(img.data, (v) => Math.round(v * 255)), 1, spec), i * per));
    return out;
  }

  it('per file: each image runs with its own choice, results back in input order', async () => {
    const auto = AutoMix.fromPack(manifest());
    const imgs = [item(1), corrupt(item(2), 'noise', 4, 1), item(3), corrupt(item(4), 'rain', 4, 2), corrupt(item(5), 'noise', 4, 3)];
    const input = batchOf(imgs);
    const r = fakeRunner();
    const out = await runAuto(r, auto, input, [5, 1, 28, 28], spec, 'file');
    expect(out.choices.map((c) => c.id)).toEqual(['clean', 'noise', 'clean', 'rain', 'noise']);
    expect(r.mixes).toHaveLength(3);
    const first = (i: number) => input[i * 28 * 28]!;
    expect(Array.from(out.scores).map((v, i) => Math.round(v - first(i)))).toEqual([0, 100, 0, 100, 100]);
  });

  it('per batch and per stream: one choice for the whole batch', async () => {
    const auto = AutoMix.fromPack(manifest());
    const imgs = Array.from({ length: 8 }, (_, i) => corrupt(item(i), 'fog', 3, i));
    for (const scope of ['batch', 'stream'] as const) {
      const r = fakeRunner();
      const out = await runAuto(r, auto, batchOf(imgs), [8, 1, 28, 28], spec, scope);
      expect(new Set(out.choices.map((c) => c.id))).toEqual(new Set(['fog']));
      expect(r.mixes).toEqual(['fog-sig']);
    }
  });
});
