import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RwsError } from '../../main/core/errors.js';
import type { ConditionMix, PatchMode, Signature } from '../../main/core/signature.js';
import { WeightPatch } from '../../main/core/weight-patch.js';

function sigOf(id: string, tensors: { name: string; values: number[]; mode?: PatchMode }[]): Signature {
  return {
    meta: { format: 'rws/1', id, condition: id, severity: [1, 5], method: 'plain', layers: 1, quant: 'f32', baseHashes: {}, batchNorm: 'none' },
    tensors: tensors.map((t) => ({ name: t.name, shape: [t.values.length], values: Float32Array.from(t.values), channelAxis: 0, mode: t.mode ?? 'add' })),
  };
}

const bits = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

/**
 * Independent reference from plain number arrays: s = Σ α·δ over signature ids in sorted order (f64),
 * then θ = fround(c + s) or fround(c·exp(s)); untouched by the mix = the clean value.
 */
function expected(clean: number[], mode: PatchMode, deltas: { id: string; values: number[] }[], mix: ConditionMix): number[] {
  const on = deltas.filter((d) => (mix[d.id] ?? 0) !== 0).sort((a, b) => (a.id < b.id ? -1 : 1));
  if (on.length === 0) return clean.map(Math.fround);
  return clean.map((c, i) => {
    let s = 0;
    on.forEach((d, k) => (s = k === 0 ? mix[d.id]! * d.values[i]! : s + mix[d.id]! * d.values[i]!));
    return Math.fround(mode === 'add' ? c + s : c * Math.exp(s));
  });
}

describe('WeightPatch', () => {
  const clean = new Map([
    ['a', Float32Array.from([1, 2, 3])],
    ['b', Float32Array.from([-1, 0.5])],
    ['var', Float32Array.from([0.25, 4])],
    ['untouched', Float32Array.from([7])],
  ]);
  const sigs = new Map([
    ['fog', sigOf('fog', [{ name: 'a', values: [0.1, 0.2, 0.3] }, { name: 'var', values: [1, -1], mode: 'log' }])],
    ['low-light', sigOf('low-light', [{ name: 'a', values: [1, 0, -1] }, { name: 'b', values: [2, 2] }])],
  ]);

  it('lists touched tensors and adds α·δ', () => {
    const p = new WeightPatch(clean, sigs);
    expect(p.touched()).toEqual(['a', 'b', 'var']);
    const t = p.tensorsFor({ fog: 0.5 });
    expect([...t.keys()]).toEqual(['a', 'b', 'var']);
    expect([...t.get('a')!]).toEqual([1.05, 2.1, 3.15].map(Math.fround));
    expect(t.get('b')).toBe(clean.get('b')); // not touched by this mix: the clean array itself
    expect([...t.get('var')!]).toEqual([0.25 * Math.exp(0.5), 4 * Math.exp(-0.5)].map(Math.fround));
  });

  it('composes signatures by summing, whatever the order of the mix', () => {
    const p = new WeightPatch(clean, sigs);
    const x = p.tensorsFor({ 'low-light': 2, fog: 1 });
    const y = p.tensorsFor({ fog: 1, 'low-light': 2 });
    expect(bits(x.get('a')!)).toEqual(bits(y.get('a')!));
    expect([...x.get('a')!]).toEqual(expected([1, 2, 3], 'add', [{ id: 'fog', values: [0.1, 0.2, 0.3] }, { id: 'low-light', values: [1, 0, -1] }], { fog: 1, 'low-light': 2 }));
  });

  it('sums in sorted-id order, so the result does not depend on the order of the mix', () => {
    // (2^30 + -2^30) + 2^-30 = 2^-30 but (2^-30 + 2^30) + -2^30 = 0 in f64: order shows.
    const z = new Map([['w', Float32Array.from([0])]]);
    const s = new Map([
      ['c', sigOf('c', [{ name: 'w', values: [2 ** -30] }])],
      ['a', sigOf('a', [{ name: 'w', values: [2 ** 30] }])],
      ['b', sigOf('b', [{ name: 'w', values: [-(2 ** 30)] }])],
    ]);
    const p = new WeightPatch(z, s);
    expect(p.tensorsFor({ c: 1, b: 1, a: 1 }).get('w')![0]).toBe(2 ** -30);
    expect(p.tensorsFor({ a: 1, b: 1, c: 1 }).get('w')![0]).toBe(2 ** -30);
  });

  it('gives back the clean arrays for an empty or all-zero mix', () => {
    const p = new WeightPatch(clean, sigs);
    p.tensorsFor({ fog: 3, 'low-light': -1 });
    for (const mix of [{}, { fog: 0 }, { fog: 0, 'low-light': -0 }] as Record<string, number>[]) {
      const t = p.tensorsFor(mix);
      for (const name of p.touched()) expect(t.get(name)).toBe(clean.get(name));
    }
  });

  it('never writes into the clean arrays, and reuses its own buffers only when asked', () => {
    const before = new Map([...clean].map(([k, v]) => [k, v.slice()]));
    const p = new WeightPatch(clean, sigs);
    const fresh1 = p.tensorsFor({ fog: 1 }).get('a')!;
    const fresh2 = p.tensorsFor({ fog: 2 }).get('a')!;
    expect(fresh1).not.toBe(fresh2);
    expect(fresh1[0]).toBe(Math.fround(1.1));
    const r1 = p.tensorsFor({ fog: 1 }, { reuse: true }).get('a')!;
    const r2 = p.tensorsFor({ fog: 2 }, { reuse: true }).get('a')!;
    expect(r1).toBe(r2);
    expect(r2[0]).toBe(Math.fround(1.2));
    for (const [k, v] of clean) expect(bits(v)).toEqual(bits(before.get(k)!));
  });

  it('refuses an unknown id in the mix, naming it', () => {
    const p = new WeightPatch(clean, sigs);
    expect(() => p.tensorsFor({ snow: 1 })).toThrow(RwsError);
    expect(() => p.tensorsFor({ snow: 1 })).toThrow(/no signature "snow" is loaded \(loaded: fog, low-light\)/);
    expect(() => p.tensorsFor({ fog: NaN })).toThrow(/"fog" is NaN/);
  });

  it('refuses a signature tensor the model lacks or whose size differs, naming the tensor', () => {
    const bad = new Map([['fog', sigOf('fog', [{ name: 'a', values: [1, 2] }])]]);
    expect(() => new WeightPatch(clean, bad)).toThrow(/signature "fog", tensor "a": shape \[2\] \(2 values\) does not match the model's tensor \(3 values\)/);
    const missing = new Map([['fog', sigOf('fog', [{ name: 'zz', values: [1] }])]]);
    expect(() => new WeightPatch(clean, missing)).toThrow(/tensor "zz": the model has no tensor/);
    const modes = new Map([
      ['fog', sigOf('fog', [{ name: 'var', values: [1, 1], mode: 'log' }])],
      ['rain', sigOf('rain', [{ name: 'var', values: [1, 1] }])],
    ]);
    expect(() => new WeightPatch(clean, modes)).toThrow(/tensor "var": mode "add" differs from "log"/);
  });

  it('ends bit-identical to the clean tensors after 10,000 random sequences of mix changes, each step exact', () => {
    const ids = ['a-fog', 'b-rain', 'c-dark', 'd-snow'];
    const world = fc
      .record({
        sizes: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }),
        seedModes: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      })
      .chain(({ sizes, seedModes }) => {
        const f = fc.float({ noNaN: true, noDefaultInfinity: true, min: -4, max: 4 });
        const values = (n: number) => fc.array(f, { minLength: n, maxLength: n });
        return fc.record({
          clean: fc.tuple(...sizes.map(values)),
          modes: fc.constant(sizes.map((_, i) => (seedModes[i] ? 'log' : 'add') as PatchMode)),
          // which signature touches which tensor, and its delta
          deltas: fc.tuple(...ids.map(() => fc.tuple(...sizes.map((n) => fc.option(values(n), { nil: undefined }))))),
          steps: fc.array(
            fc.dictionary(fc.constantFrom(...ids), fc.oneof(fc.constant(0), fc.double({ min: -3, max: 3, noNaN: true }), fc.constantFrom(0.5, 1, -1)), { maxKeys: 4 }),
            { minLength: 1, maxLength: 8 },
          ),
          reuse: fc.boolean(),
        });
      });
    fc.assert(
      fc.property(world, ({ clean: cleanValues, modes, deltas, steps, reuse }) => {
        const names = cleanValues.map((_, i) => `t${i}`);
        const cleanMap = new Map(names.map((n, i) => [n, Float32Array.from(cleanValues[i]!)]));
        const cleanBits = new Map([...cleanMap].map(([n, v]) => [n, bits(v)]));
        const sigs = new Map<string, Signature>();
        ids.forEach((id, s) => {
          const ts = names.flatMap((name, i) => (deltas[s]![i] ? [{ name, values: deltas[s]![i]!, mode: modes[i] }] : []));
          if (ts.length > 0) sigs.set(id, sigOf(id, ts));
        });
        const patch = new WeightPatch(cleanMap, sigs);
        for (const raw of steps) {
          const mix = Object.fromEntries(Object.entries(raw).filter(([id]) => sigs.has(id)));
          const got = patch.tensorsFor(mix, { reuse });
          for (const name of patch.touched()) {
            const i = names.indexOf(name);
            const ds = [...sigs].flatMap(([id, s]) => s.tensors.filter((t) => t.name === name).map(() => ({ id, values: deltas[ids.indexOf(id)]![i]!.map(Math.fround) })));
            const want = Float32Array.from(expected(cleanValues[i]!.map(Math.fround), modes[i]!, ds, mix));
            expect(bits(got.get(name)!)).toEqual(bits(want));
          }
        }
        const off = patch.tensorsFor({});
        for (const name of patch.touched()) expect(bits(off.get(name)!)).toEqual(cleanBits.get(name));
        for (const [name, v] of cleanMap) expect(bits(v)).toEqual(cleanBits.get(name));
      }),
      { numRuns: 10_000 },
    );
  });

  it('refuses a mix whose patched weights overflow float32, naming the tensor and the signature', () => {
    const big = new Map([['huge', sigOf('huge', [{ name: 'a', values: [3.4e38, 0, 0] }, { name: 'var', values: [30, 0], mode: 'log' }])]]);
    const p = new WeightPatch(clean, big);
    expect(() => p.tensorsFor({ huge: 2 })).toThrow(/patching tensor "a" with signature "huge" at 2 gives Infinity at index 0/);
    expect(() => p.tensorsFor({ huge: 4 })).toThrow(expect.objectContaining({ code: 'patch-overflow' }));
    // Small enough strengths still patch.
    expect(p.tensorsFor({ huge: 1e-38 }).get('a')![0]).toBeCloseTo(4.4, 5);
  });
});
