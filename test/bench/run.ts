// `npm run bench`: runs every benchmark section in one process and writes bench-results/bench.json
// and bench-results/bench.md. Pass section names (patcher, folder, camera, auto, gallery) to run only those.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchSection } from './section.js';

const sections: Record<string, () => Promise<BenchSection>> = {
  patcher: async () => (await import('./patcher.js')).benchPatcher(),
  folder: async () => (await import('./folder.js')).benchFolder(),
  camera: async () => (await import('./camera.js')).benchCamera(),
  auto: async () => (await import('./auto.js')).benchAuto(),
  gallery: async () => (await import('./gallery.js')).benchGallery(),
};

function table(s: BenchSection): string {
  const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3));
  const rows = s.rows.map((r) => `| ${r.name} | ${fmt(r.value)} ${r.unit} | ${r.target ?? ''} | ${r.note ?? ''} |`);
  return [`## ${s.title}`, '', '| measure | value | target | note |', '|---|---|---|---|', ...rows, ''].join('\n');
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(sections);
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}` };
  const results: BenchSection[] = [];
  for (const name of names) {
    const run = sections[name];
    if (!run) throw new Error(`unknown bench section "${name}" (known: ${Object.keys(sections).join(', ')})`);
    console.error(`bench: ${name}...`);
    try {
      const section = await run();
      results.push(section);
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
}

await main();
