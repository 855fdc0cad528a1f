import { describe, expect, it } from 'vitest';
import { conditionFeatures } from '../../../main/core/condition-features.js';
import { corrupt, type Image } from '../../../main/core/corruptions/index.js';
import { isRwsError } from '../../../main/core/errors.js';
import { mixSeed } from '../../../main/core/random.js';
import { packCandidates } from '../../../main/engine/auto/choice.js';
import { AutoMix, imagesFromInput } from '../../../main/engine/auto/mix.js';
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
  it('lists the pack conditions, its named mixes and each signature alone as candidates, each mix once', () => {
    const c = packCandidates(manifest(false));
    expect(c[0]).toEqual({ id: 'fog', mix: { 'fog-sig': 0.8 }, condition: 'fog' });
    // A signature no named condition covers stands for its condition (what the classifier names).
    expect(c.find((x) => x.id === 'rain-sig')).toEqual({ id: 'rain-sig', mix: { 'rain-sig': 1 }, condition: 'rain' });
    // fog-sig at 1 differs from the condition's 0.8: both are candidates, the condition's one stands for fog.
    expect(c.find((x) => x.id === 'fog-sig')).toEqual({ id: 'fog-sig', mix: { 'fog-sig': 1 } });
    expect(c).toHaveLength(1 + TEST_CONDITIONS.length);
    expect(packCandidates(manifest(false), ['rain-sig']).map((x) => x.id)).toEqual(['rain-sig']);
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

