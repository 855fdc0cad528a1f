import { describe, expect, it } from 'vitest';
import type { MixRunner } from '../../../main/engine/auto/choice.js';
import { autoReportMarkdown, evaluateAuto } from '../../../main/engine/auto/eval.js';
import { parsePackManifest } from '../../../main/engine/packs/pack.js';
import type { Image } from '../../../main/core/corruptions/index.js';

const spec = parsePackManifest(
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
    signatures: [{ id: 'fog', condition: 'fog', sha256: 'b'.repeat(64) }],
  }),
  'pack.json',
).input;

const PER = 28 * 28;
/** An image's class: whether its right half is brighter than its left (weather keeps that; the fake model below sees it). */
const classOf = (x: ArrayLike<number>, from: number) => {
  let d = 0;
  for (let i = 0; i < PER; i++) d += (i % 28 < 14 ? -1 : 1) * x[from + i]!;
  return d > 0 ? 1 : 0;
};
/** Images of class c: a bright half on the left (0) or the right (1), with some texture. */
const halves = (n: number): Image[] =>
  Array.from({ length: n }, (_, k) => ({
    width: 28,
    height: 28,
    channels: 1 as const,
    data: Float32Array.from({ length: PER }, (_, i) => ((i % 28 < 14) === (k % 2 === 0) ? 0.85 : 0.05) + 0.05 * Math.sin(i * (k + 1))),
  }));

/**
 * A model that is sure and right when the fog mix is on, and unsure and wrong without it (on every
 * image: it cannot see the weather), counting the images it ran.
 */
function fakeRunner(): MixRunner & { images: number } {
  let on = false;
  const r = {
    images: 0,
    setMix: async (m: Record<string, number>) => {
      on = (m.fog ?? 0) > 0;
    },
    run: async (x: Float32Array, d: number[]) => {
      r.images += d[0]!;
      const out = new Float32Array(2 * d[0]!);
      for (let i = 0; i < d[0]!; i++) {
        const c = classOf(x, i * PER);
        out[2 * i + (on ? c : 1 - c)] = on ? 4 : 0.3;
      }
      return out;
    },
  };
  return r;
}

describe('evaluateAuto', () => {
  it('measures Auto against the clean model and the best mix with hindsight per family and strength, and on a changing stream', async () => {
    const images = halves(64);
    // Accuracy then says how often the fog mix was on (the corruptions keep each image's class here).
    const labels = images.map((im) => classOf(im.data, 0));
    const runner = fakeRunner();
    const r = await evaluateAuto({
      pack: 'eval-test',
      runner,
      spec,
      classes: 2,
      kind: 'logits',
      candidates: [{ id: 'fog', mix: { fog: 1 } }],
      images,
      labels,
      families: ['physical', 'imagenet-c'],
      strengths: [3],
      segment: 60,
      segments: 4,
    });
    expect(r.rows.map((x) => `${x.condition}/${x.family}/${x.strength}`)).toEqual(['clean//0', 'fog/physical/3', 'fog/imagenet-c/3']);
    for (const row of r.rows) {
      expect(row.clean).toBe(0);
      expect(row.best).toEqual({ id: 'fog', accuracy: 1 });
      // Sample-then-commit: every image under the mix the model's outputs favour.
      expect(row.auto).toBe(1);
      expect(row.picks).toEqual({ fog: 1 });
    }
    const s = r.stream!;
    expect(s.frames).toBe(240);
    expect(s.changes).toBe(3);
    expect(s.best).toBe(1);
    expect(s.clean).toBe(0);
    // The bandit switches to fog once, at its first paired frames, and stays.
    expect(s.switches).toBe(1);
    expect(s.extraSwitches).toBe(0);
    expect(s.auto).toBeGreaterThan(0.8);
    expect(s.inferencesPerFrame).toBeLessThan(1.1);
    const md = autoReportMarkdown(r);
    expect(md).toContain('| fog | physical | 3 |');
    expect(md).toContain('best mix per segment (hindsight)');
  });
});
