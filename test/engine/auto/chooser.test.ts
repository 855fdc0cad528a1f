// The ways `--mix auto` chooses, on a fake model whose outputs depend on the image's weather and the
// mix: the fog signature makes foggy images sure and right; the clean model is unsure on fog; two
// deliberately harmful signatures either collapse every image onto one class with full confidence or
// scramble the outputs. The choice must follow the model's own outputs and never take a harmful patch.
import { describe, expect, it } from 'vitest';
import type { AutoCandidate, MixRunner } from '../../../main/engine/auto/choice.js';
import { createChooser } from '../../../main/engine/auto/chooser.js';
import { SampleCommit } from '../../../main/engine/auto/sample-commit.js';
import { AutoMix } from '../../../main/engine/auto/mix.js';
import type { Image } from '../../../main/core/corruptions/image.js';

const K = 6;
/** An image is two values: its true class and whether it is foggy (1) or clean (0). */
const PER = 2;

function batch(items: [number, number][]): { input: Float32Array; dims: number[] } {
  const input = new Float32Array(items.length * PER);
  items.forEach(([cls, fog], i) => input.set([cls, fog], i * PER));
  return { input, dims: [items.length, PER] };
}

/** A deterministic pseudo-random source of items. */
function items(n: number, fog: number, seed = 1): [number, number][] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return [s % K, fog];
  });
}

type Fake = MixRunner & { runs: number; images: number; mixes: string[] };

function fakeModel(): Fake {
  let mix: Record<string, number> = {};
  const f: Fake = {
    runs: 0,
    images: 0,
    mixes: [],
    setMix: async (m) => {
      mix = m;
    },
    run: async (x, d) => {
      f.runs++;
      f.images += d[0]!;
      f.mixes.push(Object.keys(mix).join('+') || 'clean');
      const out = new Float32Array(d[0]! * K);
      for (let i = 0; i < d[0]!; i++) {
        const [cls, fog] = [x[i * PER]!, x[i * PER + 1]!];
        const row = out.subarray(i * K, (i + 1) * K);
        if (mix.collapse) row[0] = 12; // sure, and always class 0
        else if (mix.scramble) row.fill(0.1);
        else if (mix.fog) row[cls] = fog ? 6 : 5.5; // fits fog, costs a little on clean images
        else if (mix.mild) row[cls] = fog ? 1 : 5.5; // helps on fog, but only a little (0.04 nats an image)
        else row[cls] = fog ? 0.8 : 6; // the clean model: unsure on fog
      }
      return out;
    },
  };
  return f;
}

const CANDIDATES: AutoCandidate[] = [
  { id: 'fog', mix: { fog: 1 } },
  { id: 'collapse', mix: { collapse: 1 } },
  { id: 'scramble', mix: { scramble: 1 } },
];
const opts = { classes: K, kind: 'logits' as const };

/** A frame as the classifier sees it (the fake recognisers here do not read it). */
function frameImage(): Image {
  return { width: 1, height: 1, channels: 1, data: new Float32Array(1) };
}

describe('sample-then-commit (folder)', () => {
  it('samples every candidate on the first images, then commits to the fitting one and runs only it', async () => {
    const model = fakeModel();
    const sc = new SampleCommit(model, CANDIDATES, K, 'logits', { sample: 48, chunk: 2048 });
    const picks: string[] = [];
    for (let b = 0; b < 10; b++) {
      const { input, dims } = batch(items(16, 1, b + 1));
      const r = await sc.run(input, dims);
      picks.push(...r.choices.map((c) => c.id));
    }
    expect(new Set(picks)).toEqual(new Set(['fog']));
    // 3 sampled batches (48 images) under the clean model and 3 candidates, then 7 under fog alone.
    expect(model.runs).toBe(3 * 4 + 7);
    expect(sc.reports).toHaveLength(1);
    expect(sc.reports[0]).toMatchObject({ chosen: 'fog', abstained: false, images: 48 });
  });

  it('never takes a harmful patch: collapse and scramble score below the clean model on clean images', async () => {
    const model = fakeModel();
    const sc = new SampleCommit(model, CANDIDATES.slice(1), K, 'logits');
    for (let b = 0; b < 4; b++) {
      const { input, dims } = batch(items(16, 0, b + 7));
      const r = await sc.run(input, dims);
      expect(new Set(r.choices.map((c) => c.id))).toEqual(new Set(['clean']));
    }
    const checks = Object.fromEntries(sc.reports[0]!.checks.map((c) => [c.id, c.check.score]));
    expect(checks.collapse).toBeLessThan(checks.clean!);
    expect(checks.scramble).toBeLessThan(checks.clean!);
    // Even on fog, where the clean model is unsure, the harmful patches lose to it.
    const fogModel = fakeModel();
    const onFog = new SampleCommit(fogModel, CANDIDATES.slice(1), K, 'logits');
    const { input, dims } = batch(items(64, 1, 3));
    expect(new Set((await onFog.run(input, dims)).choices.map((c) => c.id))).toEqual(new Set(['clean']));
  });

  it('samples again in each chunk, following a folder whose weather changes', async () => {
    const model = fakeModel();
    const sc = new SampleCommit(model, CANDIDATES, K, 'logits', { sample: 32, chunk: 64, margin: 0.05 });
    const ids: string[] = [];
    for (const fog of [1, 1, 1, 1, 0, 0, 0, 0]) {
      const { input, dims } = batch(items(16, fog, ids.length + 1));
      ids.push(...(await sc.run(input, dims)).choices.map((c) => c.id));
    }
    expect(ids.slice(0, 64).every((id) => id === 'fog')).toBe(true);
    // The clean model is surer than the fog patch on clean images (6 vs 5.5): the second chunk goes back to it.
    expect(ids.slice(64).every((id) => id === 'clean')).toBe(true);
  });

  it('samples on while the choice is close: a patch that helps a little is found on more images', async () => {
    const model = fakeModel();
    const sc = new SampleCommit(model, [{ id: 'mild', mix: { mild: 1 } }], K, 'logits', { sample: 32, maxSample: 256, margin: 0.05 });
    const ids: string[] = [];
    for (let b = 0; b < 20; b++) ids.push(...(await sc.run(batch(items(16, 1, b + 1)).input, [16, PER])).choices.map((c) => c.id));
    // 0.04 nats an image is below the margin on 32 images (0.05), above it on 256 (0.018).
    expect(ids.slice(0, 32).every((id) => id === 'clean')).toBe(true);
    expect(sc.reports).toHaveLength(1);
    expect(sc.reports[0]).toMatchObject({ chosen: 'mild', abstained: false, images: 256 });
    expect(ids.slice(256).every((id) => id === 'mild')).toBe(true);
    // Sampled batches ran under both candidates, the rest under the choice alone.
    expect(model.runs).toBe((256 / 16) * 2 + (320 - 256) / 16);
  });

  it('decides each folder on its own when it knows the files: a clean folder and a foggy one in one batch', async () => {
    const model = fakeModel();
    // A chunk's choice is reported once settled: here on the first 32 images, clear or not.
    const sc = new SampleCommit(model, CANDIDATES, K, 'logits', { sample: 32, maxSample: 32 });
    const fog = items(40, 1, 3);
    const clean = items(40, 0, 4);
    // Interleaved, as decoding finishes out of order.
    const mixed = fog.flatMap((f, i) => [f, clean[i]!]);
    const files = mixed.map((_, i) => (i % 2 === 0 ? `day/fog/${i}.png` : `day/clear/${i}.png`));
    const { input, dims } = batch(mixed);
    const r = await sc.run(input, dims, files);
    r.choices.forEach((c, i) => expect(c.id, files[i]).toBe(i % 2 === 0 ? 'fog' : 'clean'));
    // Each image's scores are right under its own folder's choice.
    for (let i = 0; i < mixed.length; i++) {
      const row = Array.from(r.scores.subarray(i * K, (i + 1) * K));
      expect(row.indexOf(Math.max(...row))).toBe(mixed[i]![0]);
    }
    expect(sc.reports.map((x) => [x.folder, x.chosen]).sort()).toEqual([['day/clear', 'clean'], ['day/fog', 'fog']]);
  });

  it('per batch decides each batch alone; per file each image alone', async () => {
    const model = fakeModel();
    const perBatch = createChooser('batch', model, CANDIDATES, opts);
    const a = await perBatch.run(batch(items(8, 1)).input, [8, PER]);
    const b = await perBatch.run(batch(items(8, 0)).input, [8, PER]);
    expect(new Set(a.choices.map((c) => c.id))).toEqual(new Set(['fog']));
    expect(new Set(b.choices.map((c) => c.id))).toEqual(new Set(['clean']));
    // Per file: a lone image cannot tell a fitting patch from one collapsing every image onto a class
    // (both are sure), so an image chooses among the patches the run's outputs so far support.
    const perFile = createChooser('file', fakeModel(), CANDIDATES, opts);
    const warm = batch(items(40, 0, 5).map(([c], i) => [c, i % 2] as [number, number]));
    await perFile.run(warm.input, warm.dims);
    const mixed = batch([[1, 1], [2, 0], [3, 1], [4, 0]]);
    const r = await perFile.run(mixed.input, mixed.dims);
    expect(r.choices.map((c) => c.id)).toEqual(['fog', 'clean', 'fog', 'clean']);
    // Each image's scores come from the mix chosen for it, and are right.
    for (let i = 0; i < 4; i++) {
      const row = Array.from(r.scores.subarray(i * K, (i + 1) * K));
      expect(row.indexOf(Math.max(...row))).toBe(mixed.input[i * PER]);
    }
  });
});

describe('stream bandit (camera)', () => {
  it('settles on the fitting mix on a steady foggy scene, never flickers, and costs about one exploring run in 25 frames', async () => {
    const model = fakeModel();
    const stream = createChooser('stream', model, CANDIDATES, opts);
    const ids: string[] = [];
    let switches = 0;
    for (let f = 0; f < 600; f++) {
      const { input, dims } = batch([[f % K, 1]]);
      const r = await stream.run(input, dims);
      ids.push(r.choices[0]!.id);
      if (r.choices[0]!.switched) switches++;
    }
    expect(ids[ids.length - 1]).toBe('fog');
    expect(switches).toBe(1);
    const settled = ids.indexOf('fog');
    expect(ids.slice(settled).every((id) => id === 'fog')).toBe(true);
    expect(model.images / 600).toBeLessThan(1 + 1 / 25 + 0.01);
  });

  it('returns each frame after one inference; the challenger runs in explore, and a switch it decides shows from the next frame', async () => {
    const model = fakeModel();
    const stream = createChooser('stream', model, CANDIDATES, opts);
    let decided = -1;
    for (let f = 0; f < 300 && decided < 0; f++) {
      const { input, dims } = batch([[f % K, 1]]);
      const before = model.images;
      const r = await stream.run(input, dims);
      // The frame's own run only, under the mix in force, and its scores are that run's.
      expect(model.images - before, `frame ${f}`).toBe(1);
      expect(model.mixes.at(-1)).toBe(r.choices[0]!.id);
      expect(r.choices[0]!.switched).toBe(false);
      const mix = await stream.explore!();
      if (mix) {
        expect(mix).toEqual({ fog: 1 });
        // The check leaves the model on the mix it switched to.
        expect(model.mixes.at(-1)).toBe('fog');
        decided = f;
      }
    }
    expect(decided).toBeGreaterThan(0);
    const { input, dims } = batch([[1, 1]]);
    const next = await stream.run(input, dims);
    expect(next.choices[0]).toMatchObject({ id: 'fog', switched: true });
    expect(model.mixes.at(-1)).toBe('fog');
  });

  it('checks what the classifier proposes and refuses it when the outputs say it hurts', async () => {
    const model = fakeModel();
    // A recogniser that always says the harmful patch's condition.
    let looks = 0;
    const recogniser = { observe: () => (looks++, { id: 'collapse', severity: 3, confidence: 0.99, switched: true, mix: { collapse: 1 } }), reset: () => {} } as unknown as AutoMix;
    const stream = createChooser('stream', model, CANDIDATES.slice(1), { ...opts, recogniser });
    const ids = new Set<string>();
    for (let f = 0; f < 300; f++) {
      const { input, dims } = batch([[f % K, 0]]);
      ids.add((await stream.run(input, dims, () => [frameImage()])).choices[0]!.id);
    }
    expect(ids).toEqual(new Set(['clean']));
    // It did look (every frame but the last, whose look waits for the next explore), and checked its proposal.
    expect(looks).toBe(299);
    expect(model.mixes).toContain('collapse');
  });

  it("keeps the classifier off the frame's path: it looks at a frame in explore, and its proposal is paired from the next frame", async () => {
    const model = fakeModel();
    const seen: number[] = [];
    let frames = 0;
    const recogniser = { observe: () => (seen.push(frames), { id: 'fog', severity: 3, confidence: 0.99, switched: true, mix: { fog: 1 } }), reset: () => {} } as unknown as AutoMix;
    const stream = createChooser('stream', model, CANDIDATES, { ...opts, recogniser });
    const { input, dims } = batch([[2, 1]]);
    await stream.run(input, dims, () => [frameImage()]);
    frames++;
    // The first frame ran under the clean model alone, and the classifier has not looked yet.
    expect(seen).toEqual([]);
    expect(model.mixes).toEqual(['clean']);
    expect(await stream.explore!()).toBeUndefined();
    expect(seen).toEqual([1]);
    // Nothing was pending to check on the first frame: the proposal waits for the next one.
    expect(model.mixes).toEqual(['clean']);
    await stream.run(input, dims, () => [frameImage()]);
    await stream.explore!();
    // The second frame under the clean model, then the proposal on that frame.
    expect(model.mixes).toEqual(['clean', 'clean', 'fog']);
  });
});
