// Start-up benchmark: whole `rws` processes against a bare `node -e 0` on the same machine, runs
// interleaved round by round so a burst of other work hits every command alike: `rws --help`,
// `rws run` of one image (mix off, and --mix auto, which patches), then `rws run` over a folder of
// 28×28 PNGs (10,000 by default, RWS_BENCH_STARTUP_COUNT), its wall time with the start-up against
// the folder's limit 1/(1/decode + 1/infer), each rate measured alone in this process.
// Runs alone with `node dist/test/bench/startup.js` after `npm run build`, or via `npm run bench startup`.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { walkInputs } from '../../main/engine/folder/walk.js';
import { defaultPackDir } from '../../main/engine/packs/pack.js';
import { installRoot } from '../../main/engine/io/install-root.js';
import { benchClassifier, benchModel, ensureFolder, folderRates } from './folder.js';
import { median, type BenchRow, type BenchSection } from './section.js';

const ROUNDS = Number(process.env.RWS_BENCH_STARTUP_ROUNDS ?? 11);
const COUNT = Number(process.env.RWS_BENCH_STARTUP_COUNT ?? 10_000);

function log(text: string): void {
  process.stderr.write(`bench startup: ${text}\n`);
}

/** Wall time of one process, from spawn to exit, in ms; throws when it fails. */
function timed(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: installRoot(), stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`bench startup: node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** Start-up of `rws --help` and `rws run` of one image, and `rws run` over a folder, against its limit. */
export async function benchStartup(): Promise<BenchSection> {
  const rows: BenchRow[] = [{ name: 'machine load average (1 min) at start', value: os.loadavg()[0]!, unit: '', note: `${os.cpus().length} cores` }];
  const rws = path.join(installRoot(), 'bin', 'rws.js');
  const image = path.join(defaultPackDir(), 'samples', 'clean', 'ankle-boot.png');
  const commands: [string, string[]][] = [
    ['node -e 0', ['-e', '0']],
    ['rws --help', [rws, '--help']],
    ['rws run, one image', [rws, 'run', image]],
    ['rws run --mix auto, one image', [rws, 'run', '--mix', 'auto', image]],
    // The same command from the compiled files (dist/) instead of the bundle (out/cli) bin/rws.js runs.
    ['rws run, one image, unbundled (dist/)', ['-e', `import(${JSON.stringify(pathToFileURL(path.join(installRoot(), 'dist', 'main', 'cli', 'entry.js')).href)}).then((m) => m.start(['node', 'rws', 'run', ${JSON.stringify(image)}])).then((c) => { process.exitCode = c; })`]],
  ];
  const times = new Map<string, number[]>(commands.map(([name]) => [name, []]));
  for (const [, args] of commands) timed(args);
  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with another command, so none always follows the same one.
    for (let k = 0; k < commands.length; k++) {
      const [name, args] = commands[(k + round) % commands.length]!;
      times.get(name)!.push(timed(args));
    }
  }
  const bare = median(times.get('node -e 0')!);
  rows.push({ name: 'node -e 0', value: bare, unit: 'ms', note: `median of ${ROUNDS}, whole process` });
  const targets: Record<string, string> = { 'rws --help': '≤ 1.6×', 'rws run, one image': '≤ 3.5×' };
  for (const [name] of commands.slice(1)) {
    const t = median(times.get(name)!);
    rows.push({ name: `${name} / node -e 0`, value: t / bare, unit: '×', target: targets[name], note: `${t.toFixed(0)} ms, median of ${ROUNDS}, rounds interleaved` });
    log(`${name}: ${t.toFixed(0)} ms (${(t / bare).toFixed(2)}×)`);
  }

  // A folder of small PNGs: rws run's wall time, its start-up included, against the folder's limit.
  const dir = await ensureFolder('png-28x28', COUNT, 28, 28, COUNT, 'png');
  const { files } = await walkInputs([dir]);
  const classifier = await benchClassifier(await benchModel());
  let decode = 0;
  let infer = 0;
  let whole = Infinity;
  try {
    const rates = folderRates(classifier, files);
    await rates.decode(files.slice(0, 300));
    await rates.infer(300);
    // Two rounds, each figure the best of its two, measured in turn under the same conditions.
    for (let round = 0; round < 2; round++) {
      decode = Math.max(decode, await rates.decode(files));
      infer = Math.max(infer, await rates.infer(files.length));
      whole = Math.min(whole, timed([rws, 'run', '--quiet', dir]));
    }
  } finally {
    await classifier.dispose();
  }
  const limit = 1 / (1 / decode + 1 / infer);
  const rate = files.length / (whole / 1000);
  rows.push({
    name: `rws run over ${files.length} 28×28 PNGs, start-up included / 1/(1/decode + 1/infer)`,
    value: rate / limit,
    unit: '×',
    target: '≥ 0.95',
    note: `${(whole / 1000).toFixed(2)} s (${rate.toFixed(0)} img/s); decode alone ${decode.toFixed(0)}, inference alone ${infer.toFixed(0)} img/s; best of 2`,
  });
  log(`folder: ${rate.toFixed(0)} img/s against a limit of ${limit.toFixed(0)}`);
  return { title: 'Start-up (whole processes, CPU)', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const section = await benchStartup();
  for (const r of section.rows) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
