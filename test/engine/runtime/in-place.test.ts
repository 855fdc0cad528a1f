// In-place patching (main/engine/runtime/in-place.ts): the optimised model's weights are memory
// this process writes. Its equivalence with θ_clean + Σ αΔ on every model family is in
// patcher.test.ts and patcher-families.test.ts; here, what is particular to writing in place.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import type { ConditionMix } from '../../../main/core/signature.js';
import { parseOnnx } from '../../../main/engine/onnx/model.js';
import { cpuSessions, InPlaceRunner, probeLayout, type WriteCheck } from '../../../main/engine/runtime/in-place.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';
import { seededRandom, smallResNet } from '../../fixtures/models.js';
import { shallowSignature } from '../../fixtures/signatures.js';

const fixture = smallResNet();
const model = parseOnnx(fixture.bytes, { file: 'small.onnx' });
const dims = [2, 1, 28, 28];
const rand = seededRandom(41);
const input = Float32Array.from({ length: 2 * 28 * 28 }, () => rand());
const sessions = cpuSessions(2);

function check(names: string[]): WriteCheck {
  return { feeds: { input: new ort.Tensor('float32', input.slice(), dims) }, output: 'logits', clean: new Map(names.map((n) => [n, model.floats(n)])) };
}

async function runner(names: string[], prepack?: boolean): Promise<InPlaceRunner> {
  const { plain, ortBytes, layout } = await probeLayout(model, names, sessions, fixture.bytes);
  await plain.release();
  return InPlaceRunner.create('small.onnx', ortBytes, prepack === undefined ? layout : { ...layout, prepack }, sessions, check(names));
}

const logits = async (r: InPlaceRunner) => (await r.run({ input: new ort.Tensor('float32', input.slice(), dims) }, 'logits')).data as Float32Array;

describe('in-place patching', () => {
  const first = model.layers().slice(0, 3).flatMap((l) => [l.weight, l.bias!]);

  it('unpatching restores every patched weight bit for bit, and the plain model\'s outputs exactly', async () => {
    const r = await runner(first);
    const atLoad = r.targetBytes();
    const clean = await logits(r);
    const plain = await ort.InferenceSession.create(fixture.bytes, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
    expect(clean).toEqual((await plain.run({ input: new ort.Tensor('float32', input.slice(), dims) })).logits!.data);
    await plain.release();
    for (let k = 0; k < 5; k++) {
      await r.apply(new Map(first.map((n) => [n, Float32Array.from(model.floats(n), (v) => v + (rand() - 0.5) * 0.1)])));
      expect(await logits(r)).not.toEqual(clean);
    }
    await r.restore();
    const after = r.targetBytes();
    for (const [name, bytes] of atLoad) expect(Buffer.from(after.get(name)!).equals(Buffer.from(bytes))).toBe(true);
    expect(await logits(r)).toEqual(clean);
    await r.dispose();
  });

  it('small tensors: a Conv bias is widened and read in place; a Gemm bias is applied by re-creating the session', async () => {
    const fc = model.layers().at(-1)!;
    const r = await runner([first[0]!, first[1]!, fc.weight, fc.bias!]);
    const kinds = r.describe();
    expect(kinds.filter((t) => t.kind === 'widened').map((t) => t.length)).toEqual([16]);
    expect(kinds.filter((t) => t.kind === 'copied').map((t) => t.name)).toEqual([fc.bias]);
    expect(r.recreates).toBe(true);
    const before = await logits(r);
    const bias = Float32Array.from(model.floats(fc.bias!), (v, i) => v + (i === 3 ? 2 : 0));
    await r.apply(new Map([[fc.bias!, bias]]));
    const after = await logits(r);
    // Class 3's logit rises by exactly the bias change; the others stay.
    for (let b = 0; b < 2; b++) {
      for (let c = 0; c < 10; c++) expect(after[b * 10 + c]! - before[b * 10 + c]!).toBeCloseTo(c === 3 ? 2 : 0, 5);
    }
    await r.restore();
    expect(await logits(r)).toEqual(before);
    await r.dispose();
  });

  it('the load-time check catches a kernel that keeps its own copy of a patched weight', async () => {
    const fc = model.layers().at(-1)!;
    // The classifier's Gemm pre-packs its weight unless told not to: the layout says so.
    const { plain, layout } = await probeLayout(model, [fc.weight], sessions, fixture.bytes);
    await plain.release();
    expect(layout.prepack).toBe(false);
    await expect(runner([fc.weight], true)).rejects.toThrow(/small\.onnx: in-place patching does not fit this model: weights written in place did not reach every kernel/);
    const ok = await runner([fc.weight]);
    await ok.dispose();
  });

  it('the check session keeps its own weights: the bytes it was made from may be overwritten or freed (a crash at load once)', async () => {
    // A full collection on demand: the check session once ran from a copy that nothing kept
    // referenced, and a collection between its creation and its run freed the memory it read.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { plain, ortBytes, layout } = await probeLayout(model, first, sessions, fixture.bytes);
    const feeds = () => ({ input: new ort.Tensor('float32', input.slice(), dims) });
    const expected = (await plain.run(feeds())).logits!.data as Float32Array;
    await plain.release();
    for (let k = 0; k < 5; k++) {
      const copy = await sessions.copy(ortBytes, layout.prepack);
      ortBytes.fill(0xff, ortBytes.length >> 1);
      // Collect, then fill fresh memory with NaN bytes where freed weights would have been.
      for (let i = 0; i < 3; i++) {
        gc();
        for (let j = 0; j < 8; j++) new Uint8Array(fixture.bytes.length * 2).fill(0xff);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect((await copy.run(feeds())).logits!.data).toEqual(expected);
      await copy.release();
      ortBytes.set((await probeLayout(model, first, sessions, fixture.bytes)).ortBytes);
    }
  });

  it('a switch is one write between runs: interleaved runs and mix changes each see one whole mix, in call order', async () => {
    const signatures = new Map([
      ['fog', shallowSignature(model, 'fog', 1)],
      ['rain', shallowSignature(model, 'rain', 2)],
    ]);
    const p = await Patcher.create(model, signatures, { strategy: 'inplace', threads: 2 });
    const mixes: ConditionMix[] = [{}, { fog: 1 }, { rain: 0.7 }, { fog: 0.5, rain: -1 }];
    const expected = new Map<string, Float32Array>();
    for (const mix of mixes) {
      await p.setMix(mix);
      expected.set(JSON.stringify(mix), await p.run(input.slice(), dims));
    }
    expect(new Set([...expected.values()].map((v) => v.join())).size).toBe(mixes.length);
    await p.setMix({});
    const calls: Promise<unknown>[] = [];
    const want: string[] = [];
    let current = '{}';
    for (let i = 0; i < 60; i++) {
      if (rand() < 0.4) {
        const mix = mixes[Math.floor(rand() * mixes.length)]!;
        current = JSON.stringify(mix);
        calls.push(p.setMix(mix));
      } else {
        want.push(current);
        calls.push(p.run(input.slice(), dims));
      }
    }
    const results = (await Promise.all(calls)).filter((v): v is Float32Array => v instanceof Float32Array);
    expect(results.map((r) => [...expected].find(([, v]) => v.every((x, i) => x === r[i]))?.[0])).toEqual(want);
    await p.dispose();
  });
});
