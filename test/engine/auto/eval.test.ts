import { describe, expect, it } from 'vitest';
import { AutoMix, type MixRunner } from '../../../main/engine/auto/mix.js';
import { autoReportMarkdown, evaluateAuto } from '../../../main/engine/auto/eval.js';
import { parsePackManifest } from '../../../main/engine/packs/pack.js';
import { smallClassifier, syntheticItems, TEST_CONDITIONS } from './fixtures.js';

const manifest = parsePackManifest(
  JSON.stringify({
    format: 'rws-pack/1',
    id: 'eval-test',
    name: 'Eval test',
    version: '1',
    task: 'classification',
    model: 'model.onnx',
    input: { name: 'x', layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0], std: [1], resize: 'fill' },
    output: { name: 'y', kind: 'logits' },
    labels: ['plain', 'patched'],
    signatures: TEST_CONDITIONS.map((c) => ({ id: c, condition: c, sha256: 'b'.repeat(64) })),
    autoMix: { classifier: smallClassifier() },
  }),
  'pack.json',
);

/** A model that says "patched" exactly when a mix is on, and counts how many images it ran. */
function fakeRunner(): MixRunner & { images: number } {
  let on = false;
  const r = {
    images: 0,
    setMix: async (m: Record<string, number>) => {
      on = Object.keys(m).length > 0;
    },
    run: async (x: Float32Array, d: number[]) => {
      r.images += d[0]!;
      return Float32Array.from({ length: 2 * d[0]! }, (_, i) => (i % 2 === (on ? 1 : 0) ? 1 : 0));
    },
  };
  return r;
}

describe('evaluateAuto', () => {
  it('scores auto against the oracle and the clean model per condition and on a changing stream', async () => {
    const images = syntheticItems(120, 12);
    // Every image's "right answer" is the patched model: accuracy then measures how often a mix was on.
    const labels = images.map(() => 1);
    const runner = fakeRunner();
    const r = await evaluateAuto({ runner, manifest, auto: AutoMix.fromPack(manifest), images, labels, segment: 40, segments: 8 });
    expect(r.rows.map((x) => x.condition)).toEqual(['clean', ...TEST_CONDITIONS]);
    for (const row of r.rows.slice(1)) {
      expect(row.clean).toBe(0);
      expect(row.oracle).toBe(1);
      // With this model, auto per image is right exactly when it chose some mix.
      expect(row.autoFile).toBeGreaterThanOrEqual(row.picked);
      expect(row.picked).toBeGreaterThan(0.8);
      expect(row.autoStream).toBeGreaterThan(0.8);
    }
    const clean = r.rows[0]!;
    expect(clean.picked).toBeGreaterThanOrEqual(0.95);
    expect(clean.autoFile).toBeCloseTo(1 - clean.picked, 9);
    expect(r.stream.frames).toBe(320);
    expect(r.stream.changes).toBe(7);
    expect(r.stream.settleMax).toBeLessThanOrEqual(10);
    expect(r.stream.switches).toBeGreaterThanOrEqual(7);
    expect(r.stream.switches).toBeLessThanOrEqual(9);
    expect(r.costMicros).toBeGreaterThan(0);
    // Each (set, mix) is run once: 7 sets × ≤ 7 mixes of 120 images, and the stream's ≤ 7 mixes of 320.
    expect(runner.images).toBeLessThanOrEqual(7 * 7 * 120 + 7 * 320);
    // The fake model is as sure with any mix as without: entropy never leaves clean.
    for (const row of r.rows.slice(1)) expect(row.entropyBatch).toBe(0);
    expect(autoReportMarkdown(r)).toContain('| fog |');
  });
});
