import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import sharp from '../engine/io/sharp.js';
import { CONDITIONS, corrupt, familiesOf, findFamily, SOURCES, type Image } from '../core/corruptions/index.js';
import { RwsError } from '../core/errors.js';
import { mixSeed } from '../core/random.js';
import { unitToBytes } from '../core/tensors.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { walkInputs } from '../engine/folder/walk.js';
import { EXIT } from './exit.js';
import { described } from './commands.js';

/** Seed of one file: the run's seed mixed with its relative name, so files differ but reruns agree. */
function fileSeed(seed: number, rel: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < rel.length; i++) h = Math.imul(h ^ rel.charCodeAt(i), 0x01000193) >>> 0;
  return mixSeed(seed, h);
}

/** Decode, corrupt and re-encode one image in its own format (grey stays grey; alpha is kept as it was). */
async function corruptFile(file: string, condition: string, severity: number, seed: number): Promise<Buffer> {
  const src = sharp(file, { failOn: 'error' });
  const meta = await src.metadata();
  const grey = meta.channels !== undefined && meta.channels <= 2 && meta.space !== 'srgb';
  const base = src.clone().rotate().removeAlpha();
  const { data, info } = await (grey ? base.greyscale() : base.toColourspace('srgb')).raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels === 1 ? 1 : 3;
  const img: Image = { width: info.width, height: info.height, channels, data: new Float32Array(info.width * info.height * channels) };
  for (let i = 0; i < info.width * info.height; i++) {
    for (let k = 0; k < channels; k++) img.data[i * channels + k] = data[i * info.channels + k]! / 255;
  }
  const out = corrupt(img, condition, severity, seed);
  const bytes = Buffer.from(unitToBytes(out.data));
  let enc = sharp(bytes, { raw: { width: out.width, height: out.height, channels } });
  if (channels === 1) enc = enc.toColourspace('b-w');
  if (meta.hasAlpha) {
    const alpha = await src.clone().rotate().extractChannel('alpha').raw().toBuffer();
    enc = sharp(await enc.joinChannel(alpha, { raw: { width: out.width, height: out.height, channels: 1 } }).raw().toBuffer(), {
      raw: { width: out.width, height: out.height, channels: (channels + 1) as 2 | 4 },
    });
  }
  switch (meta.format) {
    case 'jpeg':
      return enc.jpeg({ quality: 95 }).toBuffer();
    case 'webp':
      return enc.webp({ quality: 95 }).toBuffer();
    case 'tiff':
      return enc.tiff().toBuffer();
    case 'heif':
      return enc.avif({ quality: 80 }).toBuffer();
    default:
      return enc.png().toBuffer();
  }
}

/** Output name of an input: same relative path, `.png` for formats sharp cannot write (gif). */
function outName(rel: string): string {
  return /\.gif$/i.test(rel) ? rel.replace(/\.gif$/i, '.png') : rel;
}

function strengthArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 1 || n > 5) throw new InvalidArgumentError('expected a number from 1 (light) to 5 (heavy)');
  return n;
}

/** The families of every condition, with what they model, their parameters at strengths 1, 3 and 5, and their source. */
export function familiesText(): string {
  const lines: string[] = [];
  const fmt = (v: unknown): string => (typeof v === 'number' ? String(Number(v.toPrecision(3))) : Array.isArray(v) ? `${fmt(v[0])}–${fmt(v[1])}` : String(v));
  for (const c of CONDITIONS) {
    lines.push(`${c.id} (${c.name})`);
    familiesOf(c.id).forEach((f, i) => {
      lines.push(`  ${f.id}${i === 0 ? ' (default)' : ''}: ${f.about}`);
      for (const s of [1, 3, 5]) lines.push(`    strength ${s}: ${Object.entries(f.params(s)).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`);
      if (f.steps) lines.push(`    applies: ${f.steps.map((x) => `${x.condition}/${x.family}`).join(' → ')}, each at 1 + 0.75·(strength − 1)`);
      for (const src of f.sources) lines.push(`    source: ${SOURCES[src]}`);
    });
  }
  return lines.join('\n');
}

/** The same as JSON, for scripts: per condition, each family's id, lineage, what it models, parameters at strengths 1, 3 and 5, and sources. */
export function familiesJson(): Record<string, { id: string; lineage: string; about: string; params: Record<string, Record<string, unknown>>; sources: string[] }[]> {
  return Object.fromEntries(CONDITIONS.map((c) => [c.id, familiesOf(c.id).map((f) => ({
    id: f.id,
    lineage: f.lineage,
    about: f.about,
    params: Object.fromEntries([1, 3, 5].map((s) => [String(s), f.params(s)])),
    sources: f.sources.map((k) => SOURCES[k]),
  }))]));
}

/** Registers `rws corrupt`: corrupted copies of images, for previews, tests and datasets. */
export function register(program: Command): void {
  const ids = CONDITIONS.map((c) => c.id);
  program
    .command('corrupt')
    .description(described('corrupt'))
    .argument('[inputs...]', 'image files and folders (folders recursively)')
    .option('--condition <id>', `one of ${ids.join(', ')}`)
    .option('--family <id>', "a generator family of the condition (default: the condition's first; see --families)")
    .option('--strength <1-5>', 'strength, 1 (light) through 3 (moderate) to 5 (heavy); fractions allowed', strengthArg)
    .option('--severity <1-5>', 'the same as --strength', strengthArg)
    .option('--families', 'list the generator families of every condition, their parameters and sources, and exit')
    .option('--json', 'with --families: the list as JSON (each family with its lineage, the unit leave-one-family-out leaves out)')
    .option('--seed <n>', 'random seed (each file mixes in its own name)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
      return n;
    }, 0)
    .option('--out <dir>', 'output folder; relative paths under the inputs are kept')
    .action(async (inputs: string[], o: { condition?: string; family?: string; strength?: number; severity?: number; families?: boolean; json?: boolean; seed: number; out?: string }) => {
      if (o.families) {
        console.log(o.json ? JSON.stringify(familiesJson(), null, 2) : familiesText());
        return;
      }
      const usage = (m: string) => program.error(`error: ${m}`, { exitCode: EXIT.usage });
      if (!o.condition) return usage("required option '--condition <id>' not specified");
      if (!ids.includes(o.condition)) return usage(`option '--condition <id>' argument '${o.condition}' is invalid: expected one of ${ids.join(', ')}`);
      if (o.family && !findFamily(o.condition, o.family)) {
        return usage(`option '--family <id>' argument '${o.family}' is invalid: ${o.condition} has ${familiesOf(o.condition).map((f) => f.id).join(', ')}`);
      }
      const strength = o.strength ?? o.severity;
      if (strength === undefined) return usage("required option '--strength <1-5>' (or '--severity') not specified");
      if (!o.out) return usage("required option '--out <dir>' not specified");
      if (inputs.length === 0) return usage("missing required argument 'inputs'");
      const family = o.family ?? familiesOf(o.condition)[0]!.id;
      const corruption = `${o.condition}/${family}`;
      const walk = await walkInputs(inputs);
      const outDir = path.resolve(o.out);
      const inputFiles = new Set(walk.files.map((f) => path.resolve(f.path)));
      const plan = walk.files.map((f) => ({ ...f, dest: path.join(outDir, ...outName(f.rel).split('/')) }));
      for (const p of plan) {
        if (inputFiles.has(p.dest)) {
          throw new RwsError('usage-overwrite', `${p.dest}: refusing to write over an input; choose another --out`, { file: p.dest, field: 'out' });
        }
      }
      let failed = walk.problems.length;
      for (const pr of walk.problems) console.error(`rws: ${pr.message}`);
      for (const p of plan) {
        try {
          const bytes = await corruptFile(p.path, corruption, strength, fileSeed(o.seed, p.rel));
          await mkdir(path.dirname(p.dest), { recursive: true });
          await writeFileAtomic(p.dest, bytes);
        } catch (e) {
          failed++;
          console.error(`rws: ${p.path}: ${(e as Error).message}`);
        }
      }
      console.log(`${plan.length - (failed - walk.problems.length)} of ${plan.length} images → ${o.out} (${o.condition}, family ${family}, strength ${strength}, seed ${o.seed})`);
      if (failed) process.exitCode = EXIT.partial;
    });
}
