/**
 * Writes the default pack's pack.json and labels.txt from what the recipe made:
 *
 *   node dist/native-models/recipe/write-pack.js --pack DIR --signatures DIR --figures figures.json [--transfer]
 *
 * `--transfer` writes the UCI digits pack instead: the digits model (fine-tuned from the same θ_pre)
 * with the Fashion-MNIST signatures declared as transfer signatures, for `rws eval`'s transfer figure.
 *
 * One named condition per signature (the pairs, foggy night and night rain, have their own); named
 * mixes compose single signatures: each pair's two parts at the α the recipe measured best on that
 * pair's images (mean over its generator families), and a snowstorm. Signatures are listed by id
 * and SHA-256. Validated against the pack schema before writing.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parsePackManifest } from '../../main/engine/packs/pack.js';

export const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

const CONDITIONS: [string, string, string][] = [
  ['rain', 'Rain', 'Rain streaks and the veil of heavy rain, light to heavy'],
  ['fog', 'Fog', 'Haze to dense fog: a bright veil that thickens with distance'],
  ['low-light', 'Low light', 'Dusk or night: dark, grainy frames from a real sensor'],
  ['snow', 'Snow', 'Falling snow over a whitened scene'],
  ['noise', 'Sensor noise', 'Grainy sensor noise (high gain, small sensor)'],
  ['motion-blur', 'Motion blur', 'Camera shake or subject motion'],
  ['foggy-night', 'Foggy night', 'Fog seen at night: a dim veil over a dark, noisy frame'],
  ['night-rain', 'Night rain', 'Rain seen at night'],
];

const TRANSFER = process.argv.includes('--transfer');

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) throw new Error(`--${name} is required`);
  return process.argv[i + 1]!;
}

const sha256 = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');

/** The recipe's composition figures of one pair (evaluate.py): per family, the α grid of its two parts. */
interface PairFigures {
  parts: [string, string];
  families: Record<string, { clean: number; pair_model?: number; grid: Record<string, number> }>;
}

/** A pair's parts at the α pair with the best mean accuracy over the pair's families, and the share of the pair models' gain it holds. */
export function composedMix(fig: PairFigures | undefined, fallback: [string, string]): { mix: Record<string, number>; why: string } {
  if (!fig) return { mix: { [fallback[0]]: 1, [fallback[1]]: 0.5 }, why: 'composed (not measured)' };
  const fams = Object.values(fig.families);
  const keys = Object.keys(fams[0]?.grid ?? {});
  const mean = (k: string) => fams.reduce((s, f) => s + f.grid[k]!, 0) / fams.length;
  const best = keys.reduce((a, b) => (mean(b) > mean(a) ? b : a), keys[0] ?? '1,1');
  const [a1, a2] = best.split(',').map(Number) as [number, number];
  const shares = fams.filter((f) => f.pair_model !== undefined && f.pair_model !== f.clean).map((f) => (f.grid[best]! - f.clean) / (f.pair_model! - f.clean));
  const share = shares.length ? shares.reduce((s, x) => s + x, 0) / shares.length : NaN;
  return { mix: { [fig.parts[0]]: a1, [fig.parts[1]]: a2 }, why: `${fig.parts[0]} ${a1} + ${fig.parts[1]} ${a2}, the best measured pair: ${(share * 100).toFixed(0)}% of the pair models' gain on average` };
}

async function main(): Promise<void> {
  const pack = arg('pack');
  const sigDir = arg('signatures');
  const figures = JSON.parse(await readFile(arg('figures'), 'utf8')) as { composition?: Record<string, PairFigures> };
  const signatures = [];
  for (const [id] of CONDITIONS) {
    const f = path.join(sigDir, `${id}.rws.safetensors`);
    if (!existsSync(f)) continue;
    signatures.push({ id, condition: id, sha256: await sha256(f), ...(TRANSFER ? { transfer: true } : {}) });
  }
  const have = new Set(signatures.map((s) => s.id));
  const fogNight = composedMix(figures.composition?.['foggy-night'], ['fog', 'low-light']);
  const rainNight = composedMix(figures.composition?.['night-rain'], ['rain', 'low-light']);
  const mixes = [
    { id: 'fog-and-night', name: 'Fog + low light', mix: fogNight.mix, description: `The fog and low-light signatures together: ${fogNight.why}` },
    { id: 'rain-and-night', name: 'Rain + low light', mix: rainNight.mix, description: `The rain and low-light signatures together: ${rainNight.why}` },
    { id: 'snowstorm', name: 'Snowstorm', mix: { snow: 1, 'low-light': 0.5 }, description: 'Snow under a dark sky: snow, and low light at half strength' },
  ].filter((m) => Object.keys(m.mix).every((k) => have.has(k)));
  const manifest = {
    format: 'rws-pack/1',
    id: TRANSFER ? 'uci-digits' : 'fashion-mnist',
    name: TRANSFER ? 'UCI digits ResNet (Fashion-MNIST signatures, transfer)' : 'Fashion-MNIST ResNet',
    version: '2.7.0',
    task: 'classification',
    model: 'model.onnx',
    modelSha256: await sha256(path.join(pack, 'model.onnx')),
    input: {
      name: 'input',
      layout: 'NCHW',
      width: 28,
      height: 28,
      channels: 1,
      colorSpace: 'grey',
      range: [0, 1],
      mean: [0.286],
      std: [0.353],
      resize: 'fill',
    },
    output: { name: 'logits', kind: 'logits' },
    labels: TRANSFER ? Array.from({ length: 10 }, (_, i) => String(i)) : LABELS,
    signatures,
    conditions: CONDITIONS.filter(([id]) => have.has(id)).map(([id, name, description]) => ({ id, name, mix: { [id]: 1 }, description })),
    mixes,
  };
  // The auto condition classifier (main/engine/auto/train.ts) depends on the images and their
  // corruptions, not on the model: a pack.json rewritten here keeps the one it had.
  const old = existsSync(path.join(pack, 'pack.json')) ? (JSON.parse(await readFile(path.join(pack, 'pack.json'), 'utf8')) as { autoMix?: unknown }) : {};
  const text = `${JSON.stringify(old.autoMix ? { ...manifest, autoMix: old.autoMix } : manifest, null, 2)}\n`;
  parsePackManifest(text, path.join(pack, 'pack.json'));
  await writeFile(path.join(pack, 'pack.json'), text);
  await writeFile(path.join(pack, 'labels.txt'), `${manifest.labels.join('\n')}\n`);
  console.log(`wrote ${path.join(pack, 'pack.json')}: ${signatures.length} signatures; ${mixes.map((m) => `${m.id} = ${JSON.stringify(m.mix)}`).join(', ')}`);
}

await main();
