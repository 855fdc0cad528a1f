// Auto's hedge over a folder: when the sample cannot tell the best two patches apart and they
// classify many of its images differently, each image runs under both and takes the mean of their
// probabilities; when they agree on nearly every image, the best-scoring one is used alone. The fake
// model's two patches are equally sure of every image, each right on half the classes and wrong
// (one class off) on the other half, so their label-free scores tie whatever the images.
import { describe, expect, it } from 'vitest';
import { disagreement, OutputTally } from '../../../main/core/auto-check.js';
import { ranUnderKey } from '../../../main/core/mix.js';
import { blendOutputs, choiceName, type AutoCandidate, type MixRunner } from '../../../main/engine/auto/choice.js';
import { HEDGE_DISAGREEMENT, SampleCommit } from '../../../main/engine/auto/sample-commit.js';

const K = 6;

/** Images are their true class; `left` is right on classes 0-2, `right` on 3-5, `twin` is `left` again. */
function fakeModel(): MixRunner & { mixes: string[] } {
  let mix: Record<string, number> = {};
  const f = {
    mixes: [] as string[],
    setMix: async (m: Record<string, number>) => {
      mix = m;
    },
    run: async (x: Float32Array, d: number[]) => {
      const id = Object.keys(mix).join('+') || 'clean';
      f.mixes.push(id);
      const out = new Float32Array(d[0]! * K);
      for (let i = 0; i < d[0]!; i++) {
        const cls = x[i]!;
        const off = (cls + 1) % K;
        if (id === 'left' || id === 'twin') out[i * K + (cls < 3 ? cls : off)] = 5;
        else if (id === 'right') out[i * K + (cls >= 3 ? cls : off)] = 5;
        // Barely surer than the clean model: right (mild), or one class off at two strengths (faint*).
        else if (id === 'mild') out[i * K + cls] = 0.6;
        else if (id.startsWith('faint')) out[i * K + off] = id === 'faint' ? 0.45 : 0.55;
        else out[i * K + cls] = 0.3; // the clean model: right, but unsure
      }
      return out;
    },
  };
  return f;
}

/** `n` images cycling through the classes, so every run sees the same mix of them. */
function images(n: number, from = 0): { input: Float32Array; dims: number[] } {
  return { input: Float32Array.from({ length: n }, (_, i) => (from + i) % K), dims: [n, 1] };
}

async function runFolder(candidates: AutoCandidate[], batches = 12) {
  const model = fakeModel();
  const sc = new SampleCommit(model, candidates, K, 'logits', { sample: 32, maxSample: 256 });
  const runs = [];
  for (let b = 0; b < batches; b++) {
    const { input, dims } = images(32, b * 32);
    runs.push({ input, ...(await sc.run(input, dims)) });
  }
  return { model, sc, runs };
}

describe('Auto hedges between two close patches that disagree', () => {
  it('counts the images two tallies classify differently', () => {
    const a = new OutputTally(3);
    const b = new OutputTally(3);
    a.add(Float32Array.from([5, 0, 0, 0, 5, 0, 0, 0, 5, 5, 0, 0]), 'logits');
    b.add(Float32Array.from([5, 0, 0, 0, 0, 5, 0, 0, 5, 0, 5, 0]), 'logits');
    expect(disagreement(a, b)).toBe(0.5);
    expect(disagreement(a, a)).toBe(0);
    expect(disagreement(new OutputTally(3), b)).toBe(0);
  });

  it('averages the probabilities of two outputs, as logits whose softmax is the mean', () => {
    const a = Float32Array.from([2, 0, -1]);
    const b = Float32Array.from([0, 3, 1]);
    const soft = (x: Float32Array) => {
      const e = Array.from(x, Math.exp);
      const s = e.reduce((p, q) => p + q, 0);
      return e.map((v) => v / s);
    };
    const mean = soft(a).map((v, j) => (v + soft(b)[j]!) / 2);
    const blended = soft(blendOutputs(a, b, 3, 'logits'));
    blended.forEach((v, j) => expect(v).toBeCloseTo(mean[j]!, 6));
    expect(Array.from(blendOutputs(Float32Array.from([0.2, 0.8]), Float32Array.from([0.6, 0.4]), 2, 'probabilities'))).toEqual([Math.fround(0.4), Math.fround(0.6)]);
  });

  it('runs every image of the chunk under both and returns the mean once the sample leaves them tied', async () => {
    const { model, sc, runs } = await runFolder([
      { id: 'left', mix: { left: 1 } },
      { id: 'right', mix: { right: 1 } },
    ]);
    const last = runs[runs.length - 1]!;
    const choice = last.choices[0]!;
    expect(choice.blend).toBeDefined();
    expect(new Set([choice.id, choice.blend!.id])).toEqual(new Set(['left', 'right']));
    expect(sc.reports[0]!.chosen).toBe(choiceName(choice));
    // The committed batch ran under both mixes, and its scores are the mean of their probabilities.
    expect(model.mixes.slice(-2).sort()).toEqual(['left', 'right']);
    const solo = fakeModel();
    await solo.setMix({ left: 1 });
    const l = await solo.run(last.input, [32, 1]);
    await solo.setMix({ right: 1 });
    const r = await solo.run(last.input, [32, 1]);
    expect(Array.from(last.scores)).toEqual(Array.from(blendOutputs(l, r, K, 'logits')));
    expect(ranUnderKey(choice.mix, choice.blend!.mix)).toMatch(/^(left=1 \| right=1|right=1 \| left=1)$/);
  });

  it('keeps one patch, at one run per batch, when the close two classify the sample alike', async () => {
    const { model, runs } = await runFolder([
      { id: 'left', mix: { left: 1 } },
      { id: 'twin', mix: { twin: 1 } },
    ]);
    const choice = runs[runs.length - 1]!.choices[0]!;
    expect(choice.blend).toBeUndefined();
    expect(choice.id).toBe('left');
    expect(model.mixes.slice(-1)).toEqual(['left']);
    expect(HEDGE_DISAGREEMENT).toBeLessThan(0.5);
  });

  it('hedges only with a runner-up that is itself ahead of the clean model by the margin', async () => {
    // Score gains over the clean model on 256 images (marginal entropy is the same for all three):
    // mild +0.025, faint +0.010, faint2 +0.019 nats; the margin there is 0.018, twice it 0.035.
    const weak = (await runFolder([
      { id: 'mild', mix: { mild: 1 } },
      { id: 'faint', mix: { faint: 1 } },
    ])).runs.at(-1)!.choices[0]!;
    expect([weak.id, weak.blend]).toEqual(['mild', undefined]);
    const strong = (await runFolder([
      { id: 'mild', mix: { mild: 1 } },
      { id: 'faint2', mix: { faint2: 1 } },
    ])).runs.at(-1)!.choices[0]!;
    expect([strong.id, strong.blend?.id]).toEqual(['mild', 'faint2']);
  });

  it('never hedges with the clean model: a patch that only ties the clean model is not taken at all', async () => {
    const { runs } = await runFolder([{ id: 'left', mix: { left: 1 } }]);
    const choice = runs[runs.length - 1]!.choices[0]!;
    expect(choice.blend).toBeUndefined();
  });
});
