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
  it('its signatures lift accuracy on weather made by every generator family, composing fog and low light lifts foggy nights, and unpatching is exact', async () => {
    const r = await evaluatePack({ pack, libraries, data, conditions: ['fog', 'low-light'], severities: [3], families: ['physical', 'imagenet-c', 'gamma-dark'], mixes: ['fog-and-night'], limit: 300, threads: 2 });
    expect(r.clean).toBeGreaterThan(0.88);
    expect(r.unpatch.bitIdentical).toBe(true);
    for (const c of r.conditions) {
      for (const f of c.families ?? []) {
        const row = f.severities[0]!;
        // Each family of the condition, physical fog included, gains clearly (the clean model is at 10–80% there).
        expect(row.patched - row.clean, `${c.id} / ${f.family}`).toBeGreaterThan(c.id === 'fog' ? 0.3 : 0.05);
      }
      // Trained with clean images in the mix: a patch costs little on clean images.
      expect(c.cleanWhilePatched, c.id).toBeGreaterThan(r.clean - 0.02);
    }
    const mix = r.composition[0]!;
    expect(mix.corruptions).toEqual(['foggy-night']);
    for (const single of Object.values(mix.singles)) expect(mix.mixed).toBeGreaterThan(single);
  }, 300_000);
});
