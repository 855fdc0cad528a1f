import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MixRunner } from '../../../main/engine/auto/choice.js';
import { AutoMix } from '../../../main/engine/auto/mix.js';
import { conditionSet, defaultClasses, fitAlpha, readFashionImages } from '../../../main/engine/auto/train.js';
import { fashionMnistDir } from '../../../main/engine/io/idx.js';
import { parsePackManifest } from '../../../main/engine/packs/pack.js';
import { smallClassifier, syntheticItems, TEST_CONDITIONS } from './fixtures.js';

const manifest = parsePackManifest(
  JSON.stringify({
    format: 'rws-pack/1',
    id: 'alpha-test',
    name: 'Alpha test',
    version: '1',
    task: 'classification',
    model: 'model.onnx',
    input: { name: 'x', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' },
    output: { name: 'y', kind: 'logits' },
    labels: ['right', 'wrong'],
    signatures: TEST_CONDITIONS.map((c) => ({ id: `${c}-sig`, condition: c, sha256: 'c'.repeat(64) })),
    conditions: [{ id: 'fog', name: 'Fog', mix: { 'fog-sig': 0.5 } }],
    autoMix: { classifier: smallClassifier() },
  }),
  'pack.json',
);

describe('defaultClasses / conditionSet', () => {
  it('lists clean then each condition at severities 1–5, and gives the clean class its share', () => {
    const cls = defaultClasses(['fog', 'rain']);
    expect(cls).toHaveLength(11);
    expect(cls[0]).toEqual({ condition: 'clean', severity: 0 });
    expect(cls[10]).toEqual({ condition: 'rain', severity: 5 });
    const set = conditionSet(syntheticItems(5, 1), cls, 3, 1, 2);
    expect(set.xs).toHaveLength(6 + 10 * 3);
    expect(set.ys.filter((y) => y === 0)).toHaveLength(6);
  });
});

describe('fitAlpha', () => {
  it('finds the strength that makes the model right, per condition and severity', async () => {
    const alphas = [0.5, 0.75, 1, 1.25, 1.5];
    // fitAlpha sets each α of each severity of each condition in turn; the fake model is right only
    // with α = 0.75 below severity 3 and α = 1.25 from 3 on, and checks it was given the scaled mix.
    const auto = AutoMix.fromPack(manifest);
    let calls = 0;
    let right = false;
    const runner: MixRunner = {
      setMix: async (m) => {
        if (Object.keys(m).length === 0) return;
        const [cand, sev, a] = [Math.floor(calls / 25), Math.floor(calls / 5) % 5 + 1, alphas[calls % 5]!];
        const c = auto.candidates.filter((x) => x.condition)[cand]!;
        expect(m).toEqual(Object.fromEntries(Object.entries(c.mix).map(([k, v]) => [k, v * a])));
        right = a === (sev >= 3 ? 1.25 : 0.75);
        calls++;
      },
      run: async (_x, d) => Float32Array.from({ length: 2 * d[0]! }, (_, i) => (i % 2 === (right ? 0 : 1) ? 1 : 0)),
    };
    const images = syntheticItems(12, 3);
    const alpha = await fitAlpha(runner, manifest, auto, images, images.map(() => 0), { images: 12, alphas, batch: 5 });
    expect(Object.keys(alpha).sort()).toEqual([...TEST_CONDITIONS].sort());
    for (const row of Object.values(alpha)) expect(row).toEqual([0.75, 0.75, 1.25, 1.25, 1.25]);
    expect(calls).toBe(TEST_CONDITIONS.length * 25);
  });
});

describe.skipIf(!existsSync(path.join(fashionMnistDir(), 'train-images-idx3-ubyte.gz')))('readFashionImages', () => {
  it('reads a slice from the start or the end, with its labels', async () => {
    const head = await readFashionImages(fashionMnistDir(), 't10k', 3);
    const tail = await readFashionImages(fashionMnistDir(), 't10k', 3, -3);
    expect(head.images).toHaveLength(3);
    expect(head.images[0]!.width).toBe(28);
    expect(tail.labels).toHaveLength(3);
    expect(Math.max(...head.images[0]!.data)).toBeLessThanOrEqual(1);
    expect(Array.from(tail.images[2]!.data)).not.toEqual(Array.from(head.images[2]!.data));
  });
});
