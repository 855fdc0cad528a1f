// What Auto's guarantee on clean images rests on. Auto chooses among the pack's mixes by the model's
// own outputs (main/core/auto-check.ts), and on clean images those cannot tell a 1 pp loss apart (the
// candidates' scores differ by less than their noise), so Auto may run clean images under any
// candidate. The shipped pack therefore holds every candidate (each signature, each named mix) within
// 1 pp of the clean model on clean images: the signatures train with clean images in the mix, and the
// pair mixes' α are chosen under that bound (native-models/recipe/remix.ts, on other test images).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packCandidates } from '../../../main/engine/auto/choice.js';
import { readFashionImages } from '../../../main/engine/auto/train.js';
import { accuracy, corruptedSet } from '../../../main/engine/eval/corrupted-set.js';
import { loadPack } from '../../../main/engine/packs/pack.js';
import { Patcher } from '../../../main/engine/runtime/patcher.js';

const data = process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const packDir = path.join(root, 'native-models', 'fashion-mnist');
const have = existsSync(path.join(data, 't10k-images-idx3-ubyte.gz')) && existsSync(path.join(packDir, 'pack.json'));

describe.skipIf(!have)("the shipped pack's Auto candidates on clean images", () => {
  it('each keeps clean images within 1 pp of the clean model (2,000 test images)', async () => {
    const pack = await loadPack(packDir, [path.join(root, 'signatures', 'fashion-mnist')]);
    const patcher = await Patcher.open(pack.modelPath, pack.signatureFiles, { threads: 2 });
    try {
      const classes = pack.manifest.labels.length;
      const { images, labels } = await readFashionImages(data, 't10k', 2000);
      const set = corruptedSet(images, Array.from(labels), pack.manifest.input, [], 3, 0);
      const percent = async (mix: Record<string, number>) => {
        await patcher.setMix(mix);
        return 100 * (await accuracy(patcher, set, classes));
      };
      const clean = await percent({});
      expect(clean).toBeGreaterThan(90);
      const candidates = packCandidates(pack.manifest);
      expect(candidates.length).toBeGreaterThanOrEqual(pack.manifest.signatures.length);
      const costs: Record<string, number> = {};
      for (const c of candidates) costs[c.id] = Math.round((clean - (await percent(c.mix))) * 100) / 100;
      for (const [id, cost] of Object.entries(costs)) expect(cost, `${id} costs ${cost} pp on clean images (${JSON.stringify(costs)})`).toBeLessThanOrEqual(1);
    } finally {
      await patcher.dispose();
    }
  }, 120_000);
});
