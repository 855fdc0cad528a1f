import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../main/service/index.js';
import type { FolderProgress, FolderResultRow } from '../../main/api/contract.js';
import { RwsError } from '../../main/core/errors.js';
import { resultsContent, writeResults } from '../../main/engine/folder/results-file.js';
import { parseJournal } from '../../main/engine/folder/journal.js';
import { mixKey as mixKeyOf } from '../../main/core/mix.js';
import { packCandidates } from '../../main/engine/auto/choice.js';
import { parsePackManifest } from '../../main/engine/packs/pack.js';
import { fakeFactory } from './fake-classifier.js';
import { writeFixturePack } from './fixture-pack.js';

let tmp: string;
let root: string;
let images: string;
let service: Service;
let factory: ReturnType<typeof fakeFactory>;
const N = 40;

function waitFor(svc: Service, phases: string[]): Promise<FolderProgress> {
  return new Promise((resolve) => {
    const off = svc.on('progress', (p) => {
      if (p.kind === 'folder' && phases.includes(p.phase)) {
        off();
        resolve(p);
      }
    });
  });
}

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-folder-')));
  root = path.join(tmp, 'root');
  images = path.join(root, 'images');
  mkdirSync(path.join(images, 'sub dir'), { recursive: true });
  for (let i = 0; i < N; i++) {
    const v = Math.round((i / N) * 255);
    const dir = i % 2 ? images : path.join(images, 'sub dir');
    await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: v, g: v, b: v } } }).png().toFile(path.join(dir, `img-${String(i).padStart(2, '0')}.png`));
  }
  writeFileSync(path.join(images, 'broken.png'), 'not a png');
  writeFixturePack(path.join(tmp, 'pack'));
  factory = fakeFactory();
  service = await createService({ roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: factory });
});

afterAll(async () => {
  await service?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('folder runs through the service', () => {
  it('classifies a folder, reports failures, streams results and writes results files', async () => {
    const streamed: FolderResultRow[] = [];
    const off = service.on('result', (rows) => streamed.push(...rows));
    const done = waitFor(service, ['done', 'failed']);
    const started = await service.call('startFolderRun', { inputs: [images], output: path.join(root, 'out'), mix: { fog: 1 }, top: 3 });
    expect(started.phase).toBe('starting');
    const end = await done;
    off();
    expect(end).toMatchObject({ phase: 'done', done: N, failed: 1, total: N + 1 });
    const page = await service.call('getFolderResults', { offset: 0, limit: 10 });
    expect(page.count).toBe(N);
    expect(page.results).toHaveLength(10);
    expect(page.results[0]!.file).toBe('img-01.png');
    expect(page.results[0]!.top).toHaveLength(3);
    expect(page.failed.map((f) => [f.file, f.code])).toEqual([['broken.png', 'not-image']]);
    expect(page.mixKey).toBe('fog=1');
    // Every row was streamed once, as the pages give it: file, path and top classes.
    const all = (await service.call('getFolderResults', { limit: 1000 })).results;
    expect(all).toHaveLength(N);
    expect([...streamed].sort((a, b) => (a.file < b.file ? -1 : 1))).toEqual(all);
    expect(streamed.every((r) => existsSync(r.path))).toBe(true);
    const json = JSON.parse(readFileSync(path.join(root, 'out', 'results.json'), 'utf8'));
    expect(json).toMatchObject({ pack: 'fixture', mix: { fog: 1 } });
    expect(json.results).toHaveLength(N);
    expect(existsSync(path.join(root, 'out', 'results.csv'))).toBe(true);
    // The camera's mix is not the run's.
    expect((await service.call('getState', undefined)).mixKey).toBe('off');
  });

  it('results files are the journal results in rws run format; pages are the rows in file order', async () => {
    const out = path.join(root, 'out');
    const journal = parseJournal(readFileSync(path.join(out, 'journal.jsonl'), 'utf8'));
    // What rws run writes for the same results, held in memory.
    const cli = { json: path.join(root, 'cli.json'), csv: path.join(root, 'cli.csv') };
    const content = resultsContent('fixture', { fog: 1 }, 'cpu', journal.results.values(), journal.failures.values());
    await writeResults(content, cli);
    expect(readFileSync(path.join(out, 'results.json'), 'utf8')).toBe(readFileSync(cli.json, 'utf8'));
    expect(readFileSync(path.join(out, 'results.csv'), 'utf8')).toBe(readFileSync(cli.csv, 'utf8'));
    const paged: FolderResultRow[] = [];
    for (let offset = 0; ; offset += 7) {
      const page = await service.call('getFolderResults', { offset, limit: 7 });
      expect(page.count).toBe(N);
      if (page.results.length === 0) break;
      paged.push(...page.results);
    }
    expect(paged.map((r) => ({ file: r.file, top: r.top }))).toEqual(content.rows);
    expect(paged.every((r) => r.path === path.join(images, ...r.file.split('/')))).toBe(true);
  });

  it('exports CSV and JSON where asked, inside the roots only', async () => {
    const csv = await service.call('exportResults', { format: 'csv', file: path.join(root, 'exports', 'r.csv') });
    expect(csv).toMatchObject({ format: 'csv', results: N, failed: 1 });
    const text = readFileSync(csv.file, 'utf8');
    expect(text.split('\r\n')[0]).toBe('file,status,top1_index,top1_label,top1_score,top2_index,top2_label,top2_score,top3_index,top3_label,top3_score,error_code,error_message');
    expect(text).toContain('broken.png,failed');
    const e = await service.call('exportResults', { format: 'json', file: path.join(tmp, 'r.json') }).catch((x: RwsError) => x);
    expect((e as RwsError).code).toBe('outside-roots');
  });

  it('exports to one file from many calls at once, each whole, leaving no temp file', async () => {
    const file = path.join(root, 'exports', 'same.json');
    const all = await Promise.all(Array.from({ length: 12 }, () => service.call('exportResults', { format: 'json', file })));
    expect(all.every((r) => r.results === N)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8')).results).toHaveLength(N);
    expect(readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('stops and resumes to the same results as an uninterrupted run', async () => {
    const full = JSON.parse(readFileSync(path.join(root, 'out', 'results.json'), 'utf8'));
    factory.delay.ms = 15;
    const stopped = waitFor(service, ['stopped', 'done']);
    let first = true;
    const off = service.on('progress', (p) => {
      if (first && p.phase === 'running' && p.done >= 4) {
        first = false;
        void service.call('stopFolderRun', undefined);
      }
    });
    await service.call('startFolderRun', { inputs: [images], output: path.join(root, 'out2'), mix: { fog: 1 }, top: 3, batch: 2 });
    const s = await stopped;
    off();
    expect(s.phase).toBe('stopped');
    expect(s.done).toBeLessThan(N);
    const partial = JSON.parse(readFileSync(path.join(root, 'out2', 'results.json'), 'utf8'));
    expect(partial.results.length).toBe(s.done);
    factory.delay.ms = 0;
    const finished = waitFor(service, ['done', 'failed']);
    await service.call('resumeFolderRun', undefined);
    const end = await finished;
    expect(end.phase).toBe('done');
    expect(end.resumed).toBe(s.done);
    const resumed = JSON.parse(readFileSync(path.join(root, 'out2', 'results.json'), 'utf8'));
    expect(resumed).toEqual(full);
    const rows = (await service.call('getFolderResults', { limit: 1000 })).results;
    expect(rows.every((r) => existsSync(r.path))).toBe(true);
  });

  it('resumes from an output folder after a restart, from its journal, clearing what a kill during a final write left', async () => {
    // A kill -9 during the final write of a process that is gone left an empty temp file; a live one's stays.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = path.join(root, 'out2', `.results.json.${gone}.k1ll3d.tmp`);
    const live = path.join(root, 'out2', `.results.csv.1.l1v3.tmp`);
    writeFileSync(stale, '');
    writeFileSync(live, '');
    const fresh = await createService({ roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory() });
    try {
      const finished = waitFor(fresh, ['done', 'failed']);
      await fresh.call('resumeFolderRun', { output: path.join(root, 'out2') });
      expect((await finished).phase).toBe('done');
      expect((await fresh.call('getFolderResults', {})).count).toBe(N);
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      rmSync(live);
    } finally {
      await fresh.dispose();
    }
  });

  it('copies into class folders under the output, refuses an output inside the input', async () => {
    const done = waitFor(service, ['done', 'failed']);
    await service.call('startFolderRun', { inputs: [path.join(images, 'sub dir')], output: path.join(root, 'out3'), copyToClassFolders: true });
    expect((await done).phase).toBe('done');
    const classes = readdirSync(path.join(root, 'out3', 'by-class'));
    expect(classes.length).toBeGreaterThan(0);
    const e = await service.call('startFolderRun', { inputs: [images], output: path.join(images, 'out'), copyToClassFolders: true }).catch((x: RwsError) => x);
    expect((e as RwsError).code).toBe('output-inside-input');
  });

  it.skipIf(process.platform === 'win32')('lists FIFOs and links to /dev/zero as left out with the reason, and a FIFO journal is refused', async () => {
    const dir = path.join(root, 'special');
    mkdirSync(dir, { recursive: true });
    await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 9, g: 9, b: 9 } } }).png().toFile(path.join(dir, 'a.png'));
    execFileSync('mkfifo', [path.join(dir, 'pipe.png')]);
    symlinkSync('/dev/zero', path.join(dir, 'zero.jpg'));
    const done = waitFor(service, ['done', 'failed']);
    await service.call('startFolderRun', { inputs: [dir], output: path.join(root, 'out-special') });
    expect(await done).toMatchObject({ phase: 'done', done: 1, failed: 0 });
    const r = await service.call('getFolderResults', {});
    expect(r.special).toEqual([
      { file: 'pipe.png', code: 'not-regular-file', message: 'pipe.png: not read: it is a FIFO (named pipe), not a regular file' },
      { file: 'zero.jpg', code: 'not-regular-file', message: 'zero.jpg: not read: it is a link to a character device, not a regular file' },
    ]);
    // A FIFO where the run's journal goes: refused, not waited on.
    const out = path.join(root, 'out-fifo');
    mkdirSync(out);
    execFileSync('mkfifo', [path.join(out, 'journal.jsonl')]);
    const failed = waitFor(service, ['done', 'failed']);
    await service.call('startFolderRun', { inputs: [dir], output: out });
    const f = await failed;
    expect(f.phase).toBe('failed');
    expect(f.message).toMatch(/journal\.jsonl: (cannot write the journal \(ENXIO\)|refused as the journal: it is a FIFO)/);
  });

  it('refuses inputs outside the roots, and folders linking outside them', async () => {
    const outside = path.join(tmp, 'outside');
    mkdirSync(outside, { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(path.join(outside, 'o.png'));
    const e1 = await service.call('startFolderRun', { inputs: [outside], output: path.join(root, 'o1') }).catch((x: RwsError) => x);
    expect([(e1 as RwsError).code, (e1 as RwsError).field]).toEqual(['outside-roots', 'inputs.0']);
    const linked = path.join(root, 'linked');
    mkdirSync(linked, { recursive: true });
    symlinkSync(outside, path.join(linked, 'out-link'));
    const e2 = await service.call('startFolderRun', { inputs: [linked], output: path.join(root, 'o2') }).catch((x: RwsError) => x);
    expect((e2 as RwsError).code).toBe('outside-roots');
    const e3 = await service.call('startFolderRun', { inputs: [images], output: path.join(tmp, 'o3') }).catch((x: RwsError) => x);
    expect([(e3 as RwsError).code, (e3 as RwsError).field]).toEqual(['outside-roots', 'output']);
  });

  it('with Auto, runs each file under the mix the outputs choose, records it per file in the journal and the results, and resumes as Auto', async () => {
    const out = path.join(root, 'auto');
    const done = waitFor(service, ['done', 'failed']);
    await service.call('startFolderRun', { inputs: [images], output: out, auto: true, top: 3 });
    expect((await done).phase).toBe('done');
    const page = await service.call('getFolderResults', { limit: 1000 });
    expect(page.mixKey).toBe('auto');
    const manifest = parsePackManifest(readFileSync(path.join(tmp, 'pack', 'pack.json'), 'utf8'), 'pack.json');
    const keys = new Set(['off', ...packCandidates(manifest).map((c) => mixKeyOf(c.mix))]);
    expect(page.results).toHaveLength(N);
    for (const r of page.results) expect(keys.has(r.mix!), `${r.file}: ${r.mix}`).toBe(true);
    // The journal records each file's mix, and results.json says auto with a mix per row.
    const journal = parseJournal(readFileSync(path.join(out, 'journal.jsonl'), 'utf8'));
    expect(journal.header!.mix).toBe('auto');
    const byFile = new Map(page.results.map((r) => [r.file, r.mix]));
    expect(journal.results.size).toBe(N);
    for (const r of journal.results.values()) expect(mixKeyOf(r.mix)).toBe(byFile.get(r.file));
    const json = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(json.mix).toBe('auto');
    for (const r of json.results) expect(mixKeyOf(r.mix)).toBe(byFile.get(r.file));
    // Each file's top class is what the model gives under that file's mix (the fake model's rule).
    for (const r of page.results) {
      const again = await service.call('startFolderRun', { inputs: [r.path], output: path.join(root, 'auto-one'), mix: r.mix!, top: 3 }).then(() => waitFor(service, ['done', 'failed']));
      expect(again.phase).toBe('done');
      const one = await service.call('getFolderResults', { limit: 1 });
      expect(one.results[0]!.top.map((t) => t.index)).toEqual(r.top.map((t) => t.index));
      rmSync(path.join(root, 'auto-one'), { recursive: true, force: true });
      break;
    }
    // Resuming that run's folder keeps it an Auto run.
    const resumed = waitFor(service, ['done', 'failed']);
    await service.call('resumeFolderRun', { output: out });
    expect((await resumed).phase).toBe('done');
    expect((await service.call('getFolderResults', { limit: 1 })).mixKey).toBe('auto');
  });
});

describe('a results folder that already holds a run', () => {
  it('is refused without a choice; replace keeps the old results until the new run is done', async () => {
    const out = path.join(root, 'out');
    const before = readFileSync(path.join(out, 'results.json'), 'utf8');
    const e = await service.call('startFolderRun', { inputs: [images], output: out, mix: { 'low-light': 1 } }).catch((x: RwsError) => x);
    expect([(e as RwsError).code, (e as RwsError).field]).toEqual(['output-has-run', 'output']);
    // Replace, stopped half-way: the old results are untouched, the new ones wait aside.
    factory.delay.ms = 15;
    const stopped = waitFor(service, ['stopped', 'done', 'failed']);
    let asked = false;
    const off = service.on('progress', (p) => {
      if (!asked && p.kind === 'folder' && p.phase === 'running' && p.done >= 4) {
        asked = true;
        expect(readFileSync(path.join(out, 'results.json'), 'utf8')).toBe(before);
        void service.call('stopFolderRun', undefined);
      }
    });
    await service.call('startFolderRun', { inputs: [images], output: out, mix: { 'low-light': 1 }, top: 3, batch: 2, existing: 'replace' });
    expect((await stopped).phase).toBe('stopped');
    off();
    factory.delay.ms = 0;
    expect(readFileSync(path.join(out, 'results.json'), 'utf8')).toBe(before);
    expect(existsSync(path.join(out, '.rws-replacing', 'journal.jsonl'))).toBe(true);
    const partial = await service.call('readResults', { format: 'json' });
    expect(partial.file).toBe(path.join(out, '.rws-replacing', 'results.json'));
    // A new engine (a restarted server) resumes the replacement, then swaps it in.
    const fresh = await createService({ roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory() });
    try {
      const done = waitFor(fresh, ['done', 'failed']);
      await fresh.call('resumeFolderRun', { output: out });
      expect((await done).phase).toBe('done');
      const now = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
      expect(now.mix).toEqual({ 'low-light': 1 });
      expect(now.results).toHaveLength(N);
      expect(existsSync(path.join(out, '.rws-replacing'))).toBe(false);
      expect(parseJournal(readFileSync(path.join(out, 'journal.jsonl'), 'utf8')).header!.mix).toEqual({ 'low-light': 1 });
      const text = await fresh.call('readResults', { format: 'csv' });
      expect(text.file).toBe(path.join(out, 'results.csv'));
      expect(text.text.split('\r\n')[0]).toMatch(/^file,status,top1_index/);
    } finally {
      await fresh.dispose();
    }
  });

  it('resumes the run that is there when asked, only if it classified the same inputs', async () => {
    const out = path.join(root, 'out');
    const before = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    const done = waitFor(service, ['done', 'failed']);
    const p = await service.call('startFolderRun', { inputs: [images], output: out, mix: { fog: 1 }, existing: 'resume' });
    expect(p.output).toBe(out);
    expect((await done).phase).toBe('done');
    // Resumed as it was (the journal's mix, not the one asked for): nothing classified again.
    expect(JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'))).toEqual(before);
    const e = await service.call('startFolderRun', { inputs: [path.join(images, 'sub dir')], output: out, existing: 'resume' }).catch((x: RwsError) => x);
    expect((e as RwsError).code).toBe('resume-other-inputs');
  });
});
