// `npm run bench`: runs every benchmark section in one process and writes bench-results/bench.json
// and bench-results/bench.md. Pass section names (patcher, families, startup, folder, camera, auto,
// train, shards, gallery) to run only those, and `--readme` to put the tables of the sections run into
// README.md, between its `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` lines.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchSection } from './section.js';

const sections: Record<string, () => Promise<BenchSection>> = {
  patcher: async () => (await import('./patcher.js')).benchPatcher(),
  families: async () => (await import('./patcher.js')).benchFamilies(),
  startup: async () => (await import('./startup.js')).benchStartup(),
  folder: async () => (await import('./folder.js')).benchFolder(),
  camera: async () => (await import('./camera.js')).benchCamera(),
  auto: async () => (await import('./auto.js')).benchAuto(),
  train: async () => (await import('./train.js')).benchTrain(),
  shards: async () => (await import('./shard.js')).benchShards(),
  gallery: async () => (await import('./gallery.js')).benchGallery(),
};

function table(s: BenchSection): string {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
  const rows = s.rows.map((r) => `| ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.target ?? ''} | ${r.note ?? ''} |`);
  return [`## ${s.title}`, '', '| measure | value | target | note |', '|---|---|---|---|', ...rows, ''].join('\n');
}

/** README.md with each named section's block replaced by its table (a section without a block is left out). */
export function withTables(readme: string, tables: Map<string, string>, machine: string): string {
  let out = readme;
  for (const [name, text] of tables) {
    const begin = `<!-- bench:${name} -->`;
    const end = `<!-- /bench:${name} -->`;
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) continue;
    const body = text.replace(/^## (.*)$/m, `**$1** (${machine}, \`npm run bench ${name}\`)`);
    out = `${out.slice(0, a + begin.length)}\n${body}\n${out.slice(b)}`;
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const readme = args.includes('--readme');
  const wanted = args.filter((a) => a !== '--readme');
  const names = wanted.length ? wanted : Object.keys(sections);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}` };
  const results: BenchSection[] = [];
  const tables = new Map<string, string>();
  for (const name of names) {
    const run = sections[name];
    if (!run) throw new Error(`unknown bench section "${name}" (known: ${Object.keys(sections).join(', ')})`);
    console.error(`bench: ${name}...`);
    try {
      const section = await run();
      results.push(section);
      tables.set(name, table(section));
      console.log(table(section));
    } catch (e) {
      console.error(`bench: ${name} failed: ${(e as Error).stack ?? e}`);
      results.push({ title: `${name} (failed)`, rows: [] });
      process.exitCode = 1;
    }
  }
  const dir = path.resolve('bench-results');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'bench.json'), JSON.stringify({ machine, sections: results }, null, 2) + '\n');
  const md = [`# RWS Studio benchmarks`, '', `${machine.cpus} × ${machine.cpu}, Node ${machine.node}, ${machine.platform}`, '', ...results.map(table)].join('\n');
  await writeFile(path.join(dir, 'bench.md'), md);
  console.error(`bench: wrote ${path.join('bench-results', 'bench.json')} and bench.md`);
  if (readme) {
    const file = path.resolve('README.md');
    const load = os.loadavg()[0]!.toFixed(1);
    await writeFile(file, withTables(await readFile(file, 'utf8'), tables, `${machine.cpus} × ${machine.cpu}, load ${load}, ${new Date().toISOString().slice(0, 10)}`));
    console.error(`bench: README.md tables of ${[...tables.keys()].join(', ')} regenerated`);
  }
}

await main();
