import { createHash } from 'node:crypto';
import { appendFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import type { Classifier } from '../../../main/engine/folder/classifier.js';
import { createSessionClassifier } from './session-classifier.js';
import { chooseBatch, runFolder, type FolderProgress, type FolderRunOptions } from '../../../main/engine/folder/run.js';
import { walkInputs } from '../../../main/engine/folder/walk.js';
import { decodeImage } from '../../../main/engine/io/image-decode.js';
import { parseJournal } from '../../../main/engine/folder/journal.js';
import { listingOf } from '../../../main/engine/folder/shard.js';
import { resultsContent, writeResults } from '../../../main/engine/folder/results-file.js';
import { folderTestModel, makeImageFolder, testImage, type ImageFolder } from './fixtures.js';

const asRoot = process.getuid?.() === 0;
let tmp: string;
let folder: ImageFolder;
let model: Uint8Array;
let classifier: Classifier;

/** Every file under `dir` with its bytes' hash and mtime, to prove a run changed nothing. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    const st = await lstat(p);
    let hash = '';
    if (st.isFile() && st.mode & 0o444) hash = createHash('sha256').update(await readFile(p).catch(() => Buffer.alloc(0))).digest('hex');
    out.set(p, `${st.mode}:${st.size}:${st.mtimeMs}:${hash}`);
  }
  return out;
}

const base = (over: Partial<FolderRunOptions> = {}): FolderRunOptions => ({
  inputs: [folder.dir],
  classifier,
  pack: 'test-pack',
  model: 'test-model@1',
  mix: {},
  top: 3,
  maxPixels: 4_000_000,
  ...over,
});

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-folder-run-'));
  folder = await makeImageFolder(path.join(tmp, 'photos'), 30);
  model = folderTestModel();
  classifier = await createSessionClassifier(model, { device: 'cpu', threads: 1 });
});
afterAll(async () => {
  await classifier?.dispose();
  await rm(tmp, { recursive: true, force: true });
});

describe('runFolder', () => {
  it('classifies every image, reports every bad file with its reason, and changes no file', async () => {
    const before = await snapshot(folder.dir);
    const events: FolderProgress[] = [];
    const s = await runFolder(base({ batch: 4, onProgress: (p) => events.push(p) }));
    expect(await snapshot(folder.dir)).toEqual(before);

    const expected = [...folder.good, ...(asRoot ? [folder.bad.unreadable] : [])].sort();
    expect(s.results.map((r) => r.file)).toEqual(expected);
    const codes = Object.fromEntries(s.failed.map((f) => [f.file, f.code]));
    expect(codes).toEqual({
      [folder.bad.empty]: 'empty',
      [folder.bad.truncated]: 'truncated',
      [folder.bad.notImage]: 'not-image',
      [folder.bad.pixelBomb]: 'too-many-pixels',
      [folder.bad.brokenLink]: 'unreadable',
      ...(asRoot ? {} : { [folder.bad.unreadable]: 'unreadable' }),
    });
    for (const f of s.failed) expect(f.message.startsWith(`${f.file}: `)).toBe(true);
    expect(s.skipped).toEqual(folder.skipped);
    expect(s.stopped).toBe(false);
    for (const r of s.results) {
      expect(r.top).toHaveLength(3);
      expect(r.top[0]!.score).toBeGreaterThanOrEqual(r.top[1]!.score);
      expect(r.device).toBe('cpu');
    }
    const last = events[events.length - 1]!;
    expect(last.done).toBe(s.results.length);
    expect(last.failed).toBe(s.failed.length);
    expect(last.total).toBe(s.results.length + s.failed.length);
    expect(events.every((e, i) => i === 0 || e.done >= events[i - 1]!.done)).toBe(true);
  });

  it('gives the same scores as decoding and running each image alone', async () => {
    const session = await ort.InferenceSession.create(model);
    const s = await runFolder(base({ top: 10, batch: 7 }));
    for (const r of s.results.slice(0, 8)) {
      const x = await decodeImage(path.join(folder.dir, r.file), classifier.inputSpec);
      const out = await session.run({ input: new ort.Tensor('float32', x, [1, 1, 28, 28]) });
      const logits = out.logits!.data as Float32Array;
      const z = Array.from(logits).map((v) => Math.exp(v - Math.max(...logits)));
      const sum = z.reduce((a, b) => a + b, 0);
      for (const t of r.top) expect(Math.abs(t.score - z[t.index]! / sum)).toBeLessThan(1e-5);
      expect(r.top.reduce((a, t) => a + t.score, 0)).toBeCloseTo(1, 6);
    }
    await session.release();
  });

  it('classifies the walk it is given instead of walking the inputs again', async () => {
    const walk = await walkInputs([folder.dir]);
    const some = { ...walk, files: walk.files.filter((f) => folder.good.includes(f.rel)).slice(0, 5) };
    const events: FolderProgress[] = [];
    const s = await runFolder(base({ walk: some, onProgress: (p) => events.push(p) }));
    expect(s.results.map((r) => r.file)).toEqual(some.files.map((f) => f.rel));
    expect(events.at(-1)).toMatchObject({ done: 5, total: 5 + walk.problems.length });
  });

  it('takes several inputs, files and folders, naming results by input', async () => {
    const one = path.join(folder.dir, folder.good[0]!);
    const s = await runFolder(base({ inputs: [path.join(folder.dir, 'sub folder'), one] }));
    expect(s.results.some((r) => r.file === path.basename(one))).toBe(true);
    expect(s.results.filter((r) => r.file !== path.basename(one)).every((r) => r.file.startsWith('sub folder/'))).toBe(true);
  });

  it('stops when asked, and a resumed run ends with the same results as an uninterrupted one', async () => {
    const full = await runFolder(base({ batch: 4 }));
    const journal = path.join(tmp, 'stop.journal.jsonl');
    const stop = new AbortController();
    const first = await runFolder(base({ batch: 4, journal, signal: stop.signal, onResult: () => stop.abort() }));
    expect(first.stopped).toBe(true);
    expect(first.results.length).toBeGreaterThan(0);
    expect(first.results.length).toBeLessThan(full.results.length);
    const recorded = parseJournal(await readFile(journal, 'utf8'));
    expect(recorded.results.size).toBe(first.results.length);

    // A kill can tear the last line: it must be ignored, and the next record must not be glued to it.
    await appendFile(journal, '{"file":"torn line, no newli');
    const seen: string[] = [];
    const second = await runFolder(base({ batch: 4, journal, resume: true, onResult: (r) => seen.push(r.file) }));
    expect(second.resumed).toBe(first.results.length);
    expect(seen.length).toBe(full.results.length - first.results.length);
    expect(second.results.map((r) => r.file)).toEqual(full.results.map((r) => r.file));
    second.results.forEach((r, i) => {
      const want = full.results[i]!;
      expect(r.top.map((t) => t.label)).toEqual(want.top.map((t) => t.label));
      r.top.forEach((t, j) => expect(Math.abs(t.score - want.top[j]!.score)).toBeLessThan(1e-6));
    });
    expect(second.failed).toEqual(full.failed);
    const text = await readFile(journal, 'utf8');
    expect(text.includes('torn line')).toBe(false);
    expect(parseJournal(text).results.size).toBe(full.results.length);
    const a = resultsContent('p', {}, 'cpu', full.results, full.failed);
    const b = resultsContent('p', {}, 'cpu', second.results, second.failed);
    expect([...b.rows].map((r) => r.file)).toEqual([...a.rows].map((r) => r.file));
  });

  it('with keepResults false holds no results, giving resumed ones to onResumed and new ones to onResult', async () => {
    const full = await runFolder(base({ batch: 4 }));
    const journal = path.join(tmp, 'lean.journal.jsonl');
    const stop = new AbortController();
    const first = await runFolder(base({ batch: 4, journal, keepResults: false, signal: stop.signal, onResult: () => stop.abort() }));
    expect(first.stopped).toBe(true);
    expect(first.results).toEqual([]);
    const resumed: string[] = [];
    const fresh: string[] = [];
    const second = await runFolder(base({ batch: 4, journal, resume: true, keepResults: false, onResumed: (r) => resumed.push(r.file), onResult: (r) => fresh.push(r.file) }));
    expect(second.results).toEqual([]);
    expect(second.stopped).toBe(false);
    expect(resumed.length).toBe(second.resumed);
    expect(resumed.length).toBeGreaterThan(0);
    expect([...resumed, ...fresh].sort()).toEqual(full.results.map((r) => r.file));
    expect(second.failed).toEqual(full.failed);
  });

  it('refuses to overwrite a journal without --resume, and a journal of another run', async () => {
    const journal = path.join(tmp, 'other.journal.jsonl');
    await runFolder(base({ journal }));
    await expect(runFolder(base({ journal }))).rejects.toMatchObject({ code: 'usage-journal-exists' });
    await expect(runFolder(base({ journal, resume: true, mix: { fog: 0.5 } }))).rejects.toMatchObject({ code: 'resume-mismatch' });
    await expect(runFolder(base({ journal, resume: true, top: 2 }))).rejects.toBeInstanceOf(RwsError);
    const again = await runFolder(base({ journal, resume: true }));
    expect(again.resumed).toBe(again.results.length);
  });

  it('copies each image into its top class folder, never moving one, and not twice on resume', async () => {
    const before = await snapshot(folder.dir);
    const dest = path.join(tmp, 'by class');
    const journal = path.join(tmp, 'copy.journal.jsonl');
    const s = await runFolder(base({ copyTo: dest, journal }));
    expect(await snapshot(folder.dir)).toEqual(before);
    const labels = new Set(s.results.map((r) => r.top[0]!.label));
    expect(new Set(await readdir(dest))).toEqual(labels);
    let copies = 0;
    for (const label of labels) copies += (await readdir(path.join(dest, label))).length;
    expect(copies).toBe(s.results.length);
    // Same bytes as the original, under its own name in the folder of its class.
    const r = s.results[0]!;
    const copy = path.join(dest, r.top[0]!.label, path.basename(r.file));
    expect((await readFile(copy)).equals(await readFile(path.join(folder.dir, r.file)))).toBe(true);
    // Lines lost to a kill get redone: the copy is recognised, not made again as "name (2)".
    const text = await readFile(journal, 'utf8');
    const lines = text.trimEnd().split('\n');
    await writeFile(journal, lines.slice(0, lines.length - 5).join('\n') + '\n');
    await runFolder(base({ copyTo: dest, journal, resume: true }));
    let after = 0;
    for (const label of labels) after += (await readdir(path.join(dest, label))).length;
    expect(after).toBe(copies);
  });

  it('keeps the batch within what the device and memory allow', () => {
    const spec = classifier.inputSpec;
    expect(chooseBatch('cpu', spec)).toBe(32);
    expect(chooseBatch('cuda', spec)).toBe(128);
    expect(chooseBatch('cpu', spec, 1)).toBe(1);
    expect(chooseBatch('cuda', { ...spec, channels: 3, width: 1024, height: 1024 })).toBe(5);
  });
});

describe('runFolder with a shard', () => {
  it('classifies only its shard\'s files and failures: the shards of N together are the whole run, each file once', async () => {
    const full = await runFolder(base());
    const everything = [...full.results.map((r) => r.file), ...full.failed.map((f) => f.file)];
    for (const n of [1, 3]) {
      const parts = [];
      for (let index = 1; index <= n; index++) {
        let total = -1;
        const s = await runFolder(base({ shard: { index, count: n }, onProgress: (p) => (total = p.total) }));
        expect(total).toBe(s.results.length + s.failed.length);
        // Every shard lists the whole input, so shards of one run can be told by it.
        expect(s.listing).toEqual(listingOf(everything));
        parts.push(s);
      }
      const results = parts.flatMap((p) => p.results);
      const failed = parts.flatMap((p) => p.failed);
      expect(results.map((r) => r.file).sort()).toEqual(full.results.map((r) => r.file));
      expect(failed.map((f) => f.file).sort()).toEqual(full.failed.map((f) => f.file));
      const byFile = new Map(full.results.map((r) => [r.file, r]));
      for (const r of results) expect(r.top).toEqual(byFile.get(r.file)!.top);
      if (n > 1) for (const p of parts) expect(p.results.length).toBeLessThan(full.results.length);
    }
  });

  it('records its shard in the journal, marks the journal complete only at the end, and resumes no journal of another shard or N', async () => {
    const journal = path.join(tmp, 'shard.journal.jsonl');
    const stop = new AbortController();
    const first = await runFolder(base({ journal, shard: { index: 2, count: 3 }, batch: 2, onResult: () => stop.abort(), signal: stop.signal }));
    expect(first.stopped).toBe(true);
    let j = parseJournal(await readFile(journal, 'utf8'));
    expect(j.header?.shard).toEqual({ index: 2, count: 3 });
    expect(j.complete).toBeUndefined();
    await expect(runFolder(base({ journal, resume: true, shard: { index: 1, count: 3 } }))).rejects.toThrow(/its shard is 2\/3, this run's 1\/3/);
    await expect(runFolder(base({ journal, resume: true, shard: { index: 2, count: 4 } }))).rejects.toThrow(/its number of shards is 3, this run's 4/);
    await expect(runFolder(base({ journal, resume: true }))).rejects.toThrow(/its number of shards is 3, this run's 1/);
    const done = await runFolder(base({ journal, resume: true, shard: { index: 2, count: 3 } }));
    j = parseJournal(await readFile(journal, 'utf8'));
    expect(j.complete).toEqual({ device: 'cpu', listing: done.listing });
    expect(j.results.size).toBe(done.results.length);
  });

  it('lets shards copy into one folder at once without overwriting each other\'s copies', async () => {
    const src = path.join(tmp, 'same names');
    const hashes: string[] = [];
    for (let i = 0; i < 16; i++) {
      await mkdir(path.join(src, `card ${i}`), { recursive: true });
      const bytes = await testImage(200 + i).png().toBuffer();
      await writeFile(path.join(src, `card ${i}`, 'IMG_0001.png'), bytes);
      hashes.push(createHash('sha256').update(bytes).digest('hex'));
    }
    const dest = path.join(tmp, 'shared by class');
    await Promise.all([1, 2, 3].map((index) => runFolder(base({ inputs: [src], copyTo: dest, batch: 1, shard: { index, count: 3 } }))));
    const copies: string[] = [];
    for (const label of await readdir(dest)) {
      for (const f of await readdir(path.join(dest, label))) copies.push(createHash('sha256').update(await readFile(path.join(dest, label, f))).digest('hex'));
    }
    expect(copies.sort()).toEqual(hashes.sort());
  });
});

/** The JSON and CSV texts `rws run` writes for these results. */
async function exported(...args: Parameters<typeof resultsContent>): Promise<{ json: string; csv: string }> {
  const json = path.join(tmp, 'export.json');
  const csv = path.join(tmp, 'export.csv');
  await writeResults(resultsContent(...args), { json, csv });
  return { json: await readFile(json, 'utf8'), csv: await readFile(csv, 'utf8') };
}

describe('results export', () => {
  it('writes the results format: sorted, no timestamps, CSV quoted', async () => {
    const r = await exported(
      'p',
      { fog: 0.5 },
      'cpu',
      [
        { file: 'b, "quoted".jpg', top: [{ index: 1, label: 'T-shirt/top', score: 0.75 }], mix: {}, device: 'cpu' },
        { file: 'a.jpg', top: [{ index: 0, label: 'x', score: 1 }], mix: {}, device: 'cpu' },
      ],
      [{ file: 'c.jpg', code: 'empty', message: 'c.jpg: file is empty (0 bytes)', path: '/somewhere/c.jpg' }],
    );
    expect(JSON.parse(r.json)).toEqual({
      pack: 'p',
      mix: { fog: 0.5 },
      device: 'cpu',
      results: [
        { file: 'a.jpg', top: [{ index: 0, label: 'x', score: 1 }] },
        { file: 'b, "quoted".jpg', top: [{ index: 1, label: 'T-shirt/top', score: 0.75 }] },
      ],
      failed: [{ file: 'c.jpg', code: 'empty', message: 'c.jpg: file is empty (0 bytes)' }],
    });
    expect(r.csv.split('\r\n')).toEqual([
      'file,status,top1_index,top1_label,top1_score,error_code,error_message',
      'a.jpg,ok,0,x,1,,',
      '"b, ""quoted"".jpg",ok,1,T-shirt/top,0.75,,',
      'c.jpg,failed,,,,empty,c.jpg: file is empty (0 bytes)',
      '',
    ]);
  });
});

describe('results export with --mix auto', () => {
  it('keeps the mix chosen for each file, in JSON and in a CSV column', async () => {
    const r = await exported(
      'p',
      'auto',
      'cpu',
      [
        { file: 'a.jpg', top: [{ index: 0, label: 'x', score: 1 }], mix: { fog: 0.5, rain: 1 }, device: 'cpu' },
        { file: 'b.jpg', top: [{ index: 0, label: 'x', score: 1 }], mix: {}, device: 'cpu' },
      ],
      [],
    );
    expect(JSON.parse(r.json).results[0].mix).toEqual({ fog: 0.5, rain: 1 });
    expect(r.csv.split('\r\n').slice(0, 3)).toEqual([
      'file,status,top1_index,top1_label,top1_score,mix,error_code,error_message',
      'a.jpg,ok,0,x,1,fog=0.5;rain=1,,',
      'b.jpg,ok,0,x,1,,,',
    ]);
  });
});
