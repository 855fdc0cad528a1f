// Shard benchmark: `rws run --shard` processes on this machine (N = 1, 2) against one `rws run`
// process over the same folder (aggregate throughput, process start included), and `rws merge`'s
// cost per 100,000 results, from results files and from journals, with its peak RSS. The merge
// runs in a child process so its RSS is its own. `RWS_BENCH_MERGE_RESULTS` sets the size of the
// merge measured (default 100,000; the target is 1,000,000 in ≤ 10 s and ≤ 500 MB).
import { spawn } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunJournal, type FileResult } from '../../main/engine/folder/journal.js';
import { writeResultsFile, type ResultRow } from '../../main/engine/folder/results-file.js';
import { listingOf, shardKey, shardOf } from '../../main/engine/folder/shard.js';
import { CACHE, COUNT, ensureFolder } from './folder.js';
import { median, type BenchRow, type BenchSection } from './section.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root, from dist/test/bench/. */
const root = path.resolve(here, '..', '..', '..');
const bin = path.join(root, 'bin', 'rws.js');
const MERGE_RESULTS = Number(process.env.RWS_BENCH_MERGE_RESULTS ?? 100_000);
const ROUNDS = 3;

const LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function exec(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 || code === 3 ? resolve(code) : reject(new Error(`${args.slice(1, 3).join(' ')} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** Seconds for `n` shard processes started together over `dir` (0: one plain process). */
async function timeShards(dir: string, out: string, n: number): Promise<number> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const t0 = performance.now();
  const runs = n === 0 ? [['run', '--quiet', '--json', path.join(out, 'all.json'), dir]] : Array.from({ length: n }, (_, i) => ['run', '--quiet', '--shard', `${i + 1}/${n}`, '--json', path.join(out, `shard-${i + 1}.json`), dir]);
  await Promise.all(runs.map((a) => exec([bin, ...a])));
  return (performance.now() - t0) / 1000;
}

/** Seconds and peak RSS (MB) of `rws merge` in its own process. */
async function timeMerge(out: string, sources: string[], formats = 'json,csv'): Promise<{ seconds: number; rssMb: number }> {
  const merge = pathToModule(path.join(root, 'dist', 'main', 'engine', 'folder', 'merge.js'));
  const code = `
    const { mergeShards } = await import(${JSON.stringify(merge)});
    const t0 = performance.now();
    const f = ${JSON.stringify(formats)}.split(',');
    const out = ${JSON.stringify(out)};
    await mergeShards(${JSON.stringify(sources)}, { json: f.includes('json') ? out + '/results.json' : undefined, csv: f.includes('csv') ? out + '/results.csv' : undefined, summary: out + '/summary.json' });
    console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, rssMb: process.resourceUsage().maxRSS / 1024 }));`;
  await mkdir(out, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let err = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (c) => (c === 0 ? resolve(JSON.parse(text)) : reject(new Error(`merge exited ${c}: ${err.slice(-800)}`))));
  });
}

const pathToModule = (p: string) => new URL(`file://${p}`).href;

/** A seeded stand-in for a classifier's scores: five classes, descending, summing below 1. */
function syntheticTop(i: number): FileResult['top'] {
  let s = (i * 2654435761) >>> 0;
  const rnd = () => ((s = (Math.imul(s ^ (s >>> 15), 2246822519) + 0x6d2b79f5) >>> 0) / 4294967296);
  let left = 1;
  return Array.from({ length: 5 }, (_, k) => {
    const score = left * (0.5 + 0.5 * rnd());
    left -= score;
    return { index: (i + k * 3) % 10, label: LABELS[(i + k * 3) % 10]!, score };
  });
}

/**
 * `total` results split into `n` shards by the real shard key, written by the real writers: as
 * results JSON files and as journals. Cached by size under the bench folder.
 */
async function syntheticShards(total: number, n: number): Promise<{ json: string[]; journals: string[]; bytes: number }> {
  const dir = path.join(CACHE, `merge-${total}-${n}`);
  const json = Array.from({ length: n }, (_, i) => path.join(dir, `shard-${i + 1}.json`));
  const journals = Array.from({ length: n }, (_, i) => path.join(dir, `shard-${i + 1}.journal.jsonl`));
  const size = async () => (await Promise.all(json.map((f) => stat(f)))).reduce((a, s) => a + s.size, 0);
  try {
    await stat(path.join(dir, '.complete'));
    return { json, journals, bytes: await size() };
  } catch {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  }
  const names = Array.from({ length: total }, (_, i) => `part ${String(Math.floor(i / 1000)).padStart(4, '0')}/img ${String(i).padStart(7, '0')}.jpg`);
  const listing = listingOf(names);
  const shardOfName = names.map((f) => shardOf(shardKey(f), n));
  const run = 'bench@1+synthetic';
  for (let k = 1; k <= n; k++) {
    const mine = names.map((_, i) => i).filter((i) => shardOfName[i] === k);
    const rows = function* (): Iterable<ResultRow> {
      for (const i of mine) yield { file: names[i]!, top: syntheticTop(i) };
    };
    await writeResultsFile(json[k - 1]!, 'json', { pack: 'bench', mix: {}, device: 'cpu', shard: { index: k, count: n, run, top: 5, listing }, rows: rows(), topWidth: 5, failed: [] });
    const { journal } = await RunJournal.open(journals[k - 1]!, { journal: 'rws-run/1', inputs: ['/bench'], pack: 'bench', model: run, mix: {}, top: 5, shard: { index: k, count: n } }, { resume: false });
    for (let at = 0; at < mine.length; at += 2000) {
      await journal.append(mine.slice(at, at + 2000).map((i) => ({ file: names[i]!, top: syntheticTop(i), mix: {}, device: 'cpu' })));
    }
    await journal.complete({ device: 'cpu', listing });
    await journal.close();
  }
  await writeFile(path.join(dir, '.complete'), `${total}\n`);
  return { json, journals, bytes: await size() };
}

/** The shard section of `npm run bench`. */
export async function benchShards(): Promise<BenchSection> {
  const rows: BenchRow[] = [];
  const folder = await ensureFolder('small-28x28', COUNT, 28, 28, COUNT);
  const out = path.join(CACHE, 'shard-runs');
  // Rounds interleave the three set-ups so a burst of other work on a shared machine hurts all alike.
  const times: Record<string, number[]> = { one: [], n1: [], n2: [] };
  await timeShards(folder, out, 0); // warm the page cache and the model file
  for (let r = 0; r < ROUNDS; r++) {
    times.one!.push(await timeShards(folder, out, 0));
    times.n1!.push(await timeShards(folder, out, 1));
    times.n2!.push(await timeShards(folder, out, 2));
  }
  const one = median(times.one!);
  const note = `${COUNT} images 28×28, default pack, process start included; median of ${ROUNDS}`;
  rows.push({ name: 'one rws run process', value: COUNT / one, unit: 'img/s', note });
  for (const [n, key] of [[1, 'n1'], [2, 'n2']] as const) {
    const t = median(times[key]!);
    rows.push({ name: `${n} shard process${n > 1 ? 'es' : ''} at once: aggregate`, value: COUNT / t, unit: 'img/s', note });
    rows.push({ name: `${n} shard process${n > 1 ? 'es' : ''} / one process`, value: one / t, unit: '×', note: n > 1 ? 'both on this machine\'s cores: what a second process adds where one does not fill them' : 'the cost of walking the whole input and keeping one shard' });
  }
  const shardFiles = Array.from({ length: 2 }, (_, i) => path.join(out, `shard-${i + 1}.json`));
  const small = await timeMerge(path.join(out, 'merged'), shardFiles);
  rows.push({ name: `merge of the 2 shards (${COUNT} results)`, value: small.seconds, unit: 's' });

  const n = 8;
  const synthetic = await syntheticShards(MERGE_RESULTS, n);
  const per = 100_000 / MERGE_RESULTS;
  const what = `${MERGE_RESULTS.toLocaleString('en')} results in ${n} shards (top 5), ${(synthetic.bytes / 1024 / 1024).toFixed(0)} MB of shard JSON`;
  let mergeSeconds: number[] = [];
  for (const [label, sources, formats] of [
    ['from results JSON, writing JSON + CSV', synthetic.json, 'json,csv'],
    ['from results JSON, writing JSON', synthetic.json, 'json'],
    ['from journals, writing JSON + CSV', synthetic.journals, 'json,csv'],
  ] as const) {
    const runs: { seconds: number; rssMb: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await timeMerge(path.join(CACHE, 'merge-out'), [...sources], formats));
    const secs = median(runs.map((x) => x.seconds));
    if (formats === 'json,csv' && sources === synthetic.json) mergeSeconds = runs.map((x) => x.seconds);
    rows.push({ name: `merge ${label}: per 100,000 results`, value: secs * per, unit: 's', target: '≤ 1 s (1,000,000 in ≤ 10 s)', note: `${what}; median of ${ROUNDS}: ${secs.toFixed(2)} s` });
    rows.push({ name: `merge ${label}: peak RSS`, value: Math.max(...runs.map((x) => x.rssMb)), unit: 'MB', target: '≤ 500 MB at 1,000,000', note: what });
  }
  await rm(path.join(CACHE, 'merge-out'), { recursive: true, force: true });

  // N machines, each at one process's rate, then one merge: the arithmetic from the figures above.
  const rate = COUNT / one;
  const perResult = median(mergeSeconds) / MERGE_RESULTS;
  for (const machines of [2, 8, 32]) {
    const aggregate = 1 / (1 / (machines * rate) + perResult);
    rows.push({ name: `${machines} machines: aggregate rate, merge included`, value: aggregate, unit: 'img/s', note: `1 / (1/(${machines} × ${rate.toFixed(0)} img/s) + ${(perResult * 1e6).toFixed(1)} µs merge per result) = ${(aggregate / (machines * rate)).toFixed(3)} of ${machines} × one process` });
  }
  return { title: 'Shards (rws run --shard) and rws merge', rows };
}

// Run alone: `node dist/test/bench/shard.js`.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(fileURLToPath(import.meta.url))) {
  const s = await benchShards();
  for (const r of s.rows) console.log(`${r.name}: ${Number.isFinite(r.value) ? r.value.toFixed(3) : r.value} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
