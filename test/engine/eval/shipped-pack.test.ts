import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluatePack } from '../../../main/engine/eval/evaluate.js';
import { fileURLToPath } from 'node:url';

// Debian's dataset-fashion-mnist (what `.ci/run` installs); RWS_FASHION_MNIST overrides.
const data = process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const pack = path.join(root, 'native-models', 'fashion-mnist');
// Named explicitly: run from source, the shipped library's default path points one folder too high.
const libraries = [path.join(root, 'signatures', 'fashion-mnist')];
const have = existsSync(path.join(data, 't10k-images-idx3-ubyte.gz')) && existsSync(path.join(pack, 'pack.json'));

describe.skipIf(!have)('the shipped Fashion-MNIST pack', () => {
  it('fog and low-light signatures lift accuracy on corrupted test images, the mix lifts foggy nights, and unpatching is exact', async () => {
    const r = await evaluatePack({ pack, libraries, data, conditions: ['fog', 'low-light'], severities: [3], mixes: ['foggy-night'], limit: 400, threads: 2 });
    expect(r.clean).toBeGreaterThan(0.88);
    expect(r.unpatch.bitIdentical).toBe(true);
    const fog = r.conditions.find((c) => c.id === 'fog')!.severities[0]!;
    expect(fog.patched - fog.clean).toBeGreaterThan(0.3);
    const dark = r.conditions.find((c) => c.id === 'low-light')!.severities[0]!;
    expect(dark.patched).toBeGreaterThan(dark.clean);
    const mix = r.composition[0]!;
    for (const single of Object.values(mix.singles)) expect(mix.mixed).toBeGreaterThan(single);
    // A patch may cost a little on clean images, never much.
    for (const c of r.conditions) expect(c.cleanWhilePatched).toBeGreaterThan(r.clean - 0.05);
  });
});
