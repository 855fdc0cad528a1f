// `rws run --shard I/N` and `rws merge`, end to end: shards of a folder with nested, non-Latin and
// bad files merge into exactly what one run over the folder writes; a killed shard resumes into
// the same merge; shards of different runs are refused, saying why.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt } from '../../main/core/corruptions/index.js';
import { parseJournal } from '../../main/engine/folder/journal.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { smallClassifier, syntheticItems } from '../engine/auto/fixtures.js';
import { folderTestModel, makeImageFolder, testImage, type ImageFolder } from '../engine/folder/fixtures.js';
import { writeFixturePack } from '../service/fixture-pack.js';
import { ensureBuilt, rws } from './cli-harness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let tmp: string;
let folder: ImageFolder;
let model: string;

beforeAll(async () => {
  process.env.RWS_INFERENCE_WORKER = fileURLToPath(compiledWorkerUrl());
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-cli-merge-'));
  folder = await makeImageFolder(path.join(tmp, 'photos'), 30);
  model = path.join(tmp, 'model.onnx');
  await writeFile(model, folderTestModel());
});
afterAll(async () => {
  delete process.env.RWS_INFERENCE_WORKER;
  await rm(tmp, { recursive: true, force: true });
});

type Report = { results: { file: string }[]; failed: { file: string }[] };
const read = async (f: string): Promise<Report> => JSON.parse(await readFile(f, 'utf8'));

describe('rws run --shard and rws merge', () => {
  it('N = 1, 3, 7: the shards together hold each file of the single run once, and the merge is its JSON and CSV byte for byte', async () => {
    const single = { json: path.join(tmp, 'single.json'), csv: path.join(tmp, 'single.csv') };
    expect((await rws('run', '--model', model, '--max-pixels', '4000000', '--quiet', '--json', single.json, '--csv', single.csv, folder.dir)).code).toBe(3);
    const whole = await read(single.json);
    const everything = [...whole.results, ...whole.failed].map((r) => r.file).sort();
    expect(everything).toContain('sub folder/ünïcödé 日本/image 002.webp');
    for (const n of [1, 3, 7]) {
      const dir = path.join(tmp, `n${n}`);
      await mkdir(dir);
      const files: string[] = [];
      for (let i = 1; i <= n; i++) {
        const json = path.join(dir, `shard-${i}.json`);
        const r = await rws('run', '--model', model, '--max-pixels', '4000000', '--quiet', '--shard', `${i}/${n}`, '--json', json, folder.dir);
        expect([0, 3]).toContain(r.code);
        expect(r.stderr).toContain(`shard ${i}/${n}`);
        files.push(json);
      }
      const parts = await Promise.all(files.map(read));
      const union = parts.flatMap((p) => [...p.results, ...p.failed].map((r) => r.file)).sort();
      expect(union).toEqual(everything); // every file, none twice
      const out = path.join(dir, 'merged');
      const m = await rws('merge', out, ...files);
      expect(m.code).toBe(3); // some files failed, as in the single run
      expect(m.stderr).toMatch(new RegExp(`${n} of ${n} shards? of model\\.onnx .*: ${whole.results.length} results, ${whole.failed.length} failed`));
      expect(await readFile(path.join(out, 'results.json'), 'utf8')).toBe(await readFile(single.json, 'utf8'));
      expect(await readFile(path.join(out, 'results.csv'), 'utf8')).toBe(await readFile(single.csv, 'utf8'));
      expect(JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'))).toMatchObject({ shards: n, complete: true, results: whole.results.length });
    }
  });

  it('with --journal, --csv and --copy-to: shards copy into one folder and merge from their journals', async () => {
    const dir = path.join(tmp, 'journals');
    const sorted = path.join(tmp, 'sorted');
    const journals: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const journal = path.join(dir, `shard-${i}.journal.jsonl`);
      await mkdir(dir, { recursive: true });
      const r = await rws('run', '--model', model, '--max-pixels', '4000000', '--quiet', '--shard', `${i}/3`, '--csv', path.join(dir, `shard-${i}.csv`), '--journal', journal, '--copy-to', sorted, folder.dir);
      expect([0, 3]).toContain(r.code);
      journals.push(journal);
    }
    const out = path.join(dir, 'merged');
    expect((await rws('merge', '--formats', 'json', out, ...journals)).code).toBe(3);
    expect(await readFile(path.join(out, 'results.json'), 'utf8')).toBe(await readFile(path.join(tmp, 'single.json'), 'utf8'));
    expect(existsSync(path.join(out, 'results.csv'))).toBe(false);
    let copies = 0;
    for (const label of await readdir(sorted)) copies += (await readdir(path.join(sorted, label))).length;
    expect(copies).toBe((await read(path.join(tmp, 'single.json'))).results.length);
    // A CSV alone cannot be checked against the other shards.
    const csv = await rws('merge', path.join(dir, 'x'), path.join(dir, 'shard-1.csv'));
    expect(csv.code).toBe(1);
    expect(csv.stderr).toMatch(/shard-1\.csv: a CSV names no pack, mix or shard/);
  });

  it('--mix auto: each file keeps the mix chosen for it, and the merge equals the single run', async () => {
    const pack = writeFixturePack(path.join(tmp, 'pack'));
    const manifest = JSON.parse(await readFile(path.join(pack, 'pack.json'), 'utf8'));
    manifest.autoMix = { classifier: smallClassifier() };
    await writeFile(path.join(pack, 'pack.json'), JSON.stringify(manifest));
    const photos = path.join(tmp, 'auto photos');
    await mkdir(path.join(photos, 'nested'), { recursive: true });
    const items = syntheticItems(12, 77);
    for (let i = 0; i < items.length; i++) {
      const kind = (['clean', 'fog', 'low-light'] as const)[i % 3]!;
      const img = kind === 'clean' ? items[i]! : corrupt(items[i]!, kind, 4, i);
      const px = Buffer.from(Uint8Array.from(img.data, (v) => Math.round(v * 255)));
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(photos, i % 2 ? 'nested' : '', `${kind}-${i}.png`));
    }
    const dir = path.join(tmp, 'auto');
    await mkdir(dir);
    expect((await rws('run', '--pack', pack, '--mix', 'auto', '--quiet', '--json', path.join(dir, 'single.json'), photos)).code).toBe(0);
    const shards = [1, 2, 3].map((i) => path.join(dir, `shard-${i}.json`));
    for (const [i, f] of shards.entries()) expect((await rws('run', '--pack', pack, '--mix', 'auto', '--quiet', '--shard', `${i + 1}/3`, '--json', f, photos)).code).toBe(0);
    expect((await rws('merge', path.join(dir, 'merged'), ...shards)).code).toBe(0);
    const merged = await readFile(path.join(dir, 'merged', 'results.json'), 'utf8');
    expect(merged).toBe(await readFile(path.join(dir, 'single.json'), 'utf8'));
    const mixes = JSON.parse(merged).results.map((r: { mix: Record<string, number> }) => JSON.stringify(r.mix));
    expect(new Set(mixes).size).toBeGreaterThan(1);
  });

  it('a shard killed mid-run is refused by the merge until it is resumed, and then gives the same merge', async () => {
    await ensureBuilt();
    const dir = path.join(tmp, 'killed');
    const many = path.join(dir, 'many');
    await mkdir(path.join(many, 'sub'), { recursive: true });
    for (let i = 0; i < 90; i++) await testImage(i, 48, 36).jpeg().toFile(path.join(many, i % 2 ? 'sub' : '', `img ${i}.jpg`));
    await writeFile(path.join(many, 'broken.jpg'), 'not really');
    const bin = path.join(root, 'bin', 'rws.js');
    const args = (i: number, extra: string[] = []) => [bin, 'run', '--model', model, '--batch', '1', '--threads', '1', '--quiet', '--shard', `${i}/3`, '--json', path.join(dir, `shard-${i}.json`), '--journal', path.join(dir, `shard-${i}.journal.jsonl`), ...extra, many];
    const runToEnd = (a: string[], env: NodeJS.ProcessEnv = {}) =>
      new Promise<number>((resolve) => spawn(process.execPath, a, { stdio: 'ignore', env: { ...process.env, ...env } }).on('exit', (code) => resolve(code ?? -1)));

    expect(await runToEnd([bin, 'run', '--model', model, '--quiet', '--json', path.join(dir, 'single.json'), many])).toBe(3);
    for (const i of [1, 3]) expect([0, 3]).toContain(await runToEnd(args(i)));
    // Shard 2 holds its inference after 8 images (a test hook), so the kill comes at a known point.
    const journal = path.join(dir, 'shard-2.journal.jsonl');
    const child = spawn(process.execPath, args(2), { stdio: 'ignore', env: { ...process.env, RWS_TEST_HOLD_AFTER: '8' } });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let done = 0;
    let ended = false;
    void exited.then(() => (ended = true));
    while (done < 8 && !ended) {
      await new Promise((r) => setTimeout(r, 20));
      done = existsSync(journal) ? parseJournal(await readFile(journal, 'utf8')).results.size : 0;
    }
    expect(ended, 'the shard ended before it was killed').toBe(false);
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(path.join(dir, 'shard-2.json'))).toBe(false);

    const sources = [path.join(dir, 'shard-1.json'), journal, path.join(dir, 'shard-3.json')];
    const refused = await rws('merge', path.join(dir, 'out'), ...sources);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/shard 2\/3 \(.*shard-2\.journal\.jsonl\): the journal of a run that did not finish .*--resume/);
    expect(existsSync(path.join(dir, 'out'))).toBe(false); // nothing written, not even the folder
    const partial = await rws('merge', '--partial', path.join(dir, 'partial'), ...sources);
    expect(partial.code).toBe(3);
    expect(partial.stderr).toMatch(/shard 2\/3 .* did not finish/);

    // The scheduler runs the same command again, with --resume: it takes up from its journal.
    expect([0, 3]).toContain(await runToEnd(args(2, ['--resume'])));
    const resumed = parseJournal(await readFile(journal, 'utf8'));
    expect(resumed.complete).toBeDefined();
    const ok = await rws('merge', path.join(dir, 'out'), ...sources);
    expect(ok.code).toBe(3);
    expect(await readFile(path.join(dir, 'out', 'results.json'), 'utf8')).toBe(await readFile(path.join(dir, 'single.json'), 'utf8'));
    const fromJson = await rws('merge', path.join(dir, 'out2'), path.join(dir, 'shard-1.json'), path.join(dir, 'shard-2.json'), path.join(dir, 'shard-3.json'));
    expect(fromJson.code).toBe(3);
    expect(await readFile(path.join(dir, 'out2', 'results.json'), 'utf8')).toBe(await readFile(path.join(dir, 'single.json'), 'utf8'));
  });

  it('refuses mismatched shards and bad --shard values with a clear error', async () => {
    const dir = path.join(tmp, 'mismatch');
    await mkdir(dir);
    const run = (shard: string, json: string, extra: string[] = []) => rws('run', '--model', model, '--max-pixels', '4000000', '--quiet', '--shard', shard, '--json', path.join(dir, json), ...extra, folder.dir);
    await run('1/3', 'a1.json');
    await run('2/4', 'b2.json');
    const mixed = await rws('merge', path.join(dir, 'out'), path.join(dir, 'a1.json'), path.join(dir, 'b2.json'));
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/shard 2\/4 \(.*b2\.json\) and shard 1\/3 \(.*a1\.json\) are not shards of one run: the number of shards is 4 in one and 3 in the other/);
    const twice = await rws('merge', path.join(dir, 'out'), path.join(dir, 'a1.json'), path.join(dir, 'a1.json'));
    expect(twice.stderr).toMatch(/shard 1\/3 is given twice/);
    const missing = await rws('merge', path.join(dir, 'out'), path.join(dir, 'a1.json'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/shards missing: 2, 3 of 3/);
    // The journal of one shard is not resumed by another.
    const journal = path.join(dir, 'keep.journal.jsonl');
    await run('1/3', 'k.json', ['--journal', journal]);
    const other = await run('2/3', 'k.json', ['--journal', journal, '--resume']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/keep\.journal\.jsonl: this journal belongs to another run \(its shard is 1\/3, this run's 2\/3\)/);
    for (const bad of ['4/3', '0/2', 'two', 'auto']) {
      const r = await run(bad, 'bad.json');
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/rws: --shard /);
    }
    expect((await rws('merge', path.join(dir, 'out'))).code).toBe(2);
  });
});
