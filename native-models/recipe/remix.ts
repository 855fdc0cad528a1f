/**
 * Re-measures the default pack's composed pair mixes whose parts were retrained, with the signatures
 * that ship, and writes the chosen α pair into pack.json:
 *
 *   node dist/native-models/recipe/remix.js --pack DIR --signatures DIR --retrained rain[,snow…] [--data DIR] [--images N]
 *
 * A pair mix (fog + low light, rain + low light) composes two single signatures at the α pair that
 * scores best on the pair condition's images (the mean over its generator families, strength 3). The
 * recipe measures that grid in torch on its own signatures (evaluate.py); a part retrained by
 * retrain.sh is another signature, so its pairs are measured again here, on the same grid, through
 * onnxruntime. One rule is added: every α pair that costs more than 1 pp on clean images is out.
 * Auto chooses among the pack's mixes by the model's own outputs, and on clean images those cannot
 * tell 1 pp apart (their scores differ by less than the sampling noise), so a candidate that costs
 * more on clean images is one Auto may take on them. The images are the test set's last
 * `--images` (default 2,000), which `rws eval` (its first ones) does not report on.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CONDITIONS, familiesOf } from '../../main/core/corruptions/index.js';
import type { ConditionMix } from '../../main/core/signature.js';
import { readFashionImages } from '../../main/engine/auto/train.js';
import { accuracy, corruptedSet, type CorruptedSet } from '../../main/engine/eval/corrupted-set.js';
import { loadPack, parsePackManifest } from '../../main/engine/packs/pack.js';
import { Patcher } from '../../main/engine/runtime/patcher.js';

/** The pack's pair mixes: the mix's id, the pair condition whose images it is for, and its two parts (the condition's own). */
export const PAIRS: { id: string; pair: string; parts: [string, string] }[] = [
  { id: 'fog-and-night', pair: 'foggy-night' },
  { id: 'rain-and-night', pair: 'night-rain' },
].map(({ id, pair }) => {
  const [a, b, ...more] = CONDITIONS.find((c) => c.id === pair)?.parts ?? [];
  if (!a || !b || more.length) throw new Error(`remix: ${pair} is not a condition of two parts`);
  return { id, pair, parts: [a, b] };
});
/** The α of each part: evaluate.py's grid and 0.25, for a part that costs on clean images at 0.5. */
export const GRID = [0.25, 0.5, 0.75, 1];
/** Most a pair mix may cost on clean images, in percentage points. */
export const CLEAN_COST_PP = 1;

/** One α pair's figures: accuracy (%) on each family's images at strength 3, their mean, and on clean images. */
export interface GridCell {
  alpha: [number, number];
  families: Record<string, number>;
  mean: number;
  clean: number;
}

/** The α pair with the best mean among those within `CLEAN_COST_PP` of the clean model on clean images (undefined: none is). */
export function bestPair(cells: readonly GridCell[], cleanModel: number): GridCell | undefined {
  let best: GridCell | undefined;
  for (const c of cells) if (c.clean >= cleanModel - CLEAN_COST_PP && (!best || c.mean > best.mean)) best = c;
  return best;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: { pack: { type: 'string' }, signatures: { type: 'string' }, retrained: { type: 'string' }, data: { type: 'string' }, images: { type: 'string', default: '2000' } },
  });
  for (const k of ['pack', 'signatures', 'retrained'] as const) if (a[k] === undefined) throw new Error(`--${k} is required`);
  const packDir = a.pack!;
  const sigDir = a.signatures!;
  const retrained = new Set(a.retrained!.split(','));
  const data = a.data ?? process.env.RWS_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
  const count = Number(a.images);
  const pack = await loadPack(packDir, [sigDir]);
  const manifest = pack.manifest;
  const file = path.join(packDir, 'pack.json');
  // Written back as it was read, but for the mixes changed.
  const raw = JSON.parse(await readFile(file, 'utf8')) as { mixes: { id: string; mix: ConditionMix; description?: string }[] };
  const pairs = PAIRS.filter((p) => p.parts.some((s) => retrained.has(s)) && manifest.mixes.some((m) => m.id === p.id) && p.parts.every((s) => pack.signatureFiles.has(s)));
  if (!pairs.length) return console.log(`remix: no pair mix of ${packDir} has a retrained part (${[...retrained].join(', ')})`);
  const patcher = await Patcher.open(pack.modelPath, pack.signatureFiles, { threads: 1 });
  const { images, labels } = await readFashionImages(data, 't10k', count, -count);
  const spec = manifest.input;
  const classes = manifest.labels.length;
  // Batched once, as `rws eval` batches its sets (engine/eval/corrupted-set.ts); each cell only runs them.
  const clean = corruptedSet(images, Array.from(labels), spec, [], 3, 0);
  const percent = async (set: CorruptedSet, mix: ConditionMix): Promise<number> => {
    await patcher.setMix(mix);
    return 100 * (await accuracy(patcher, set, classes));
  };
  try {
    const cleanModel = await percent(clean, {});
    for (const p of pairs) {
      const fams = familiesOf(p.pair).map((f) => f.id);
      const sets = fams.map((f, k) => corruptedSet(images, clean.labels, spec, [`${p.pair}/${f}`], 3, 9001 + k));
      const cells: GridCell[] = [];
      for (const a1 of GRID) {
        for (const a2 of GRID) {
          const mix = { [p.parts[0]]: a1, [p.parts[1]]: a2 };
          const families: Record<string, number> = {};
          for (const [k, f] of fams.entries()) families[f] = await percent(sets[k]!, mix);
          const mean = Object.values(families).reduce((s, v) => s + v, 0) / fams.length;
          cells.push({ alpha: [a1, a2], families, mean, clean: await percent(clean, mix) });
        }
      }
      const pairSig = pack.signatureFiles.has(p.pair) ? { [p.pair]: 1 } : undefined;
      let pairOwn = NaN;
      if (pairSig) {
        let sum = 0;
        for (const set of sets) sum += await percent(set, pairSig);
        pairOwn = sum / sets.length;
      }
      console.log(`\n${p.id} (${p.parts.join(' + ')}) on ${p.pair}'s families at strength 3, ${count} images each; clean images: clean model ${cleanModel.toFixed(1)}%\n`);
      console.log(`| α (${p.parts.join(', ')}) | ${fams.join(' | ')} | mean | clean images |`);
      console.log(`|---|${fams.map(() => '---|').join('')}---|---|`);
      for (const c of cells) console.log(`| ${c.alpha.join(', ')} | ${fams.map((f) => c.families[f]!.toFixed(1)).join(' | ')} | ${c.mean.toFixed(1)} | ${c.clean.toFixed(1)} |`);
      const best = bestPair(cells, cleanModel);
      const m = raw.mixes.find((x) => x.id === p.id)!;
      if (!best) {
        console.log(`\n${p.id}: every α pair costs more than ${CLEAN_COST_PP} pp on clean images; left as it is (${JSON.stringify(m.mix)})`);
        continue;
      }
      const [a1, a2] = best.alpha;
      m.mix = { [p.parts[0]]: a1, [p.parts[1]]: a2 };
      const own = Number.isNaN(pairOwn) ? '' : `; ${p.pair}'s own signature ${pairOwn.toFixed(1)}%`;
      m.description = `The ${p.parts[0]} and ${p.parts[1]} signatures together: ${p.parts[0]} ${a1} + ${p.parts[1]} ${a2}, the best measured pair that keeps clean images within ${CLEAN_COST_PP} pp: ${best.mean.toFixed(1)}% on ${p.pair}'s families at strength 3${own}`;
      console.log(`\n${p.id} = ${JSON.stringify(m.mix)}: mean ${best.mean.toFixed(1)}%, clean images ${best.clean.toFixed(1)}%${own}`);
    }
  } finally {
    await patcher.dispose();
  }
  const text = `${JSON.stringify(raw, null, 2)}\n`;
  parsePackManifest(text, file);
  await writeFile(file, text);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
