// rws merge at the engine: shards written by the real writers (results files and journals) are
// merged into exactly the bytes the writer gives for the whole run, or refused, naming why.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConditionMix } from '../../../main/core/signature.js';
import { RunJournal, type FileFailure, type FileResult } from '../../../main/engine/folder/journal.js';
import { mergeShards } from '../../../main/engine/folder/merge.js';
import { resultsContent, writeResults } from '../../../main/engine/folder/results-file.js';
import { readShardResults, RowReader } from '../../../main/engine/folder/shard-results.js';
import { listingOf, shardKey, shardOf } from '../../../main/engine/folder/shard.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-merge-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const LABELS = ['T-shirt/top', 'Trouser', 'say "hi", twice', 'Dress', 'Ünïcödé'];

/** A run's results over `n` files: nested, non-Latin and awkward names, some failures. */
function wholeRun(n: number, auto = false): { results: FileResult[]; failed: FileFailure[] } {
  const results: FileResult[] = [];
  const failed: FileFailure[] = [];
  for (let i = 0; i < n; i++) {
    const dir = ['', 'sub folder/', 'sub folder/ünïcödé 日本/', 'a,b "c"/'][i % 4];
    const file = `${dir}image ${String(i).padStart(6, '0')}.jpg`;
    if (i % 29 === 5) {
      failed.push({ file, code: 'truncated', message: `${file}: the image is truncated` });
      continue;
    }
    const top = [0, 1, 2].map((k) => ({ index: (i + k) % 5, label: LABELS[(i + k) % 5]!, score: 1 / (i + k + 2) }));
    const mix: ConditionMix = auto ? (i % 3 === 0 ? {} : { fog: (i % 7) / 7 }) : {};
    // Some files ran under an Auto hedge: a second mix, its probabilities averaged in.
    results.push({ file, top, mix, ...(auto && i % 5 === 1 ? { blend: { rain: 1 } } : {}), device: 'cpu' });
  }
  return { results, failed };
}

const shardOfFile = (file: string, n: number) => shardOf(shardKey(file.split('/').join('/')), n);

interface Written {
  json: string[];
  journals: string[];
}

/** The run split into `n` shards, each written as `rws run --shard` writes it (results JSON and journal). */
async function writeShards(dir: string, run: ReturnType<typeof wholeRun>, n: number, opts: { mix?: ConditionMix | 'auto'; id?: string; top?: number } = {}): Promise<Written> {
  const mix = opts.mix ?? {};
  const listing = listingOf([...run.results.map((r) => r.file), ...run.failed.map((f) => f.file)]);
  const out: Written = { json: [], journals: [] };
  for (let k = 1; k <= n; k++) {
    const results = run.results.filter((r) => shardOfFile(r.file, n) === k);
    const failed = run.failed.filter((f) => shardOfFile(f.file, n) === k);
    const json = path.join(dir, `shard-${k}.json`);
    const content = resultsContent('pack', mix, 'cpu', results, failed);
    await writeResults({ ...content, shard: { index: k, count: n, run: opts.id ?? 'pack@1+model', top: opts.top ?? 3, listing } }, { json });
    const journal = path.join(dir, `shard-${k}.journal.jsonl`);
    const { journal: j } = await RunJournal.open(journal, { journal: 'rws-run/1', inputs: ['/photos'], pack: 'pack', model: opts.id ?? 'pack@1+model', mix, top: opts.top ?? 3, shard: { index: k, count: n } }, { resume: false });
    // Failures first, then results in reverse: a journal is in no particular order.
    await j.append([], failed);
    await j.append([...results].reverse());
    await j.complete({ device: 'cpu', listing });
    await j.close();
    out.json.push(json);
    out.journals.push(journal);
  }
  return out;
}

/** What the single run writes: the results writer over the whole run. */
async function single(dir: string, run: ReturnType<typeof wholeRun>, mix: ConditionMix | 'auto' = {}): Promise<{ json: string; csv: string }> {
  const json = path.join(dir, 'single.json');
  const csv = path.join(dir, 'single.csv');
  await writeResults(resultsContent('pack', mix, 'cpu', run.results, run.failed), { json, csv });
  return { json: await readFile(json, 'utf8'), csv: await readFile(csv, 'utf8') };
}

async function merged(dir: string, sources: string[], opts = {}): Promise<{ json: string; csv: string; summary: Awaited<ReturnType<typeof mergeShards>> }> {
  const out = { json: path.join(dir, 'merged.json'), csv: path.join(dir, 'merged.csv'), summary: path.join(dir, 'summary.json') };
  const summary = await mergeShards(sources, out, opts);
  return { json: await readFile(out.json, 'utf8'), csv: await readFile(out.csv, 'utf8'), summary };
}

describe('mergeShards', () => {
  it('gives the single run\'s JSON and CSV byte for byte, from results files, from journals, or both, for N = 1, 3, 7', async () => {
    const run = wholeRun(300);
    for (const n of [1, 3, 7]) {
      const dir = await mkdtemp(path.join(tmp, `n${n}-`));
      const want = await single(dir, run);
      const shards = await writeShards(dir, run, n);
      const a = await merged(dir, shards.json);
      expect(a.json).toBe(want.json);
      expect(a.csv).toBe(want.csv);
      expect(JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8'))).toEqual(a.summary);
      const b = await merged(dir, [...shards.journals].reverse());
      expect(b.json).toBe(want.json);
      expect(b.csv).toBe(want.csv);
      const mixed = shards.json.map((j, i) => (i % 2 ? shards.journals[i]! : j));
      expect((await merged(dir, mixed)).json).toBe(want.json);
      expect(a.summary).toMatchObject({ shards: n, results: run.results.length, failed: run.failed.length, missing: [], complete: true, unaccounted: 0 });
      expect(a.summary.merged.map((m) => m.shard)).toEqual(Array.from({ length: n }, (_, i) => `${i + 1}/${n}`));
    }
  });

  it('keeps the mix Auto chose for each file, and the second mix of a hedge', async () => {
    const run = wholeRun(120, true);
    const dir = await mkdtemp(path.join(tmp, 'auto-'));
    const want = await single(dir, run, 'auto');
    expect(want.json).toContain('"blend": {\n        "rain": 1\n      }');
    expect(want.csv).toMatch(/,fog=[0-9.e-]+ \| rain=1,/);
    const shards = await writeShards(dir, run, 3, { mix: 'auto' });
    expect((await merged(dir, shards.json)).json).toBe(want.json);
    const fromJournals = await merged(dir, shards.journals);
    expect(fromJournals.json).toBe(want.json);
    expect(fromJournals.csv).toBe(want.csv);
  });

  it('indexes results files and journals the same whatever the read chunk cuts (rows, names, lines), and reads reformatted files whole', async () => {
    for (const auto of [false, true]) {
      const run = wholeRun(400, auto);
      const dir = await mkdtemp(path.join(tmp, 'chunks-'));
      const want = await single(dir, run, auto ? 'auto' : {});
      const shards = await writeShards(dir, run, 2, { mix: auto ? 'auto' : {} });
      const expected = run.results.filter((r) => shardOfFile(r.file, 2) === 1).sort((a, b) => (a.file < b.file ? -1 : 1));
      for (const file of [shards.json[0]!, shards.journals[0]!]) {
        const whole = await readShardResults(file);
        expect(whole.rows.files).toEqual(expected.map((r) => r.file));
        const reader = new RowReader(file, whole.rows, 256);
        for (const i of [0, 1, 77, expected.length - 1]) expect(await reader.row(i)).toMatchObject({ file: expected[i]!.file, top: expected[i]!.top, ...(auto ? { mix: expected[i]!.mix } : {}) });
        for (const chunkBytes of [16, 61, 97, 131, 1000]) {
          const cut = await readShardResults(file, { chunkBytes });
          expect([cut.rows.held, whole.rows.held]).toEqual([undefined, undefined]);
          expect(cut.rows).toEqual(whole.rows);
          expect(cut.failed).toEqual(whole.failed);
          expect(cut.listing).toEqual(whole.listing);
        }
      }
      // The same shard in one line (as `jq -c` writes it) is read whole.
      const compact = path.join(dir, 'compact.json');
      await writeFile(compact, JSON.stringify(JSON.parse(await readFile(shards.json[1]!, 'utf8'))));
      expect((await merged(dir, [shards.json[0]!, compact])).json).toBe(want.json);
    }
    // A shard with no rows at all.
    const dir = await mkdtemp(path.join(tmp, 'empty-'));
    const few = wholeRun(2);
    const shards = await writeShards(dir, few, 7);
    expect((await merged(dir, shards.json)).json).toBe((await single(dir, few)).json);
    for (const f of shards.json) expect((await readShardResults(f, { chunkBytes: 16 })).rows).toEqual((await readShardResults(f)).rows);
  });

  it('reads a journal as a resumed run does: the latest line per file, a torn last line left out', async () => {
    const run = wholeRun(40);
    const dir = await mkdtemp(path.join(tmp, 'journal-'));
    const shards = await writeShards(dir, run, 1);
    const journal = shards.journals[0]!;
    const r0 = run.results[0]!;
    // A file that failed once and succeeded later, one that succeeded and then failed.
    const text = await readFile(journal, 'utf8');
    const lines = text.trimEnd().split('\n');
    const complete = lines.pop()!;
    const later = run.results[1]!;
    lines.splice(1, 0, JSON.stringify({ file: r0.file, failed: { code: 'unreadable', message: 'busy' } }));
    lines.push(JSON.stringify({ file: later.file, failed: { code: 'unreadable', message: `${later.file}: gone` } }));
    await writeFile(journal, lines.join('\n') + '\n' + complete + '\n' + '{"file":"torn.jpg","top":[{"ind');
    const s = await readShardResults(journal);
    expect(s.complete).toBe(true);
    expect(s.rows.files).not.toContain('torn.jpg');
    expect(s.rows.files).toContain(r0.file);
    expect(s.rows.files).not.toContain(later.file);
    expect(s.failed.map((f) => f.file)).toContain(later.file);
    expect(s.failed.map((f) => f.file)).not.toContain(r0.file);
    // A record after the completion means a later run started and has not finished.
    await appendFile(journal, '\n' + JSON.stringify({ file: later.file, top: later.top, mix: {}, device: 'cpu' }) + '\n');
    expect((await readShardResults(journal)).complete).toBe(false);
  });

  it('refuses shards of different runs, naming the shards and what differs', async () => {
    const run = wholeRun(60);
    const dir = await mkdtemp(path.join(tmp, 'mismatch-'));
    const a = await writeShards(await mkdtemp(path.join(dir, 'a-')), run, 3);
    const n4 = await writeShards(await mkdtemp(path.join(dir, 'n4-')), run, 4);
    const fog = await writeShards(await mkdtemp(path.join(dir, 'fog-')), run, 3, { mix: { fog: 0.5 } });
    const other = await writeShards(await mkdtemp(path.join(dir, 'other-')), run, 3, { id: 'pack@2+other' });
    const top5 = await writeShards(await mkdtemp(path.join(dir, 'top-')), run, 3, { top: 5 });
    const out = (name: string) => ({ json: path.join(dir, `${name}.json`) });
    const refused = (sources: string[], pattern: RegExp) => expect(mergeShards(sources, out('x'))).rejects.toThrow(pattern);
    await refused([a.json[0]!, n4.json[1]!, a.json[2]!], /shard 2\/4 \(.*shard-2\.json\) and shard 1\/3 .* the number of shards is 4 in one and 3 in the other/);
    await refused([a.json[0]!, fog.json[1]!, a.json[2]!], /the mix is fog=0\.5 in one and off in the other/);
    await refused([a.json[0]!, other.journals[1]!, a.json[2]!], /the model and signatures is pack@2\+other in one and pack@1\+model in the other/);
    await refused([a.json[0]!, top5.json[1]!, a.json[2]!], /the --top is 5 in one and 3 in the other/);
    await refused([a.json[0]!, a.journals[0]!, a.json[2]!], /shard 1\/3 is given twice: .*shard-1\.json and .*shard-1\.journal\.jsonl/);
    await refused([a.json[0]!, a.json[2]!], /shards missing: 2 of 3; run them \(rws run --shard I\/3/);
    await refused([a.json[0]!, a.json[1]!, path.join(dir, 'shard-3.json')], /shard-3\.json: cannot read it \(no such file\)/);
    // Nothing was written by any of them.
    await expect(readFile(path.join(dir, 'x.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses shards that saw different inputs, or report a file twice, and never overwrites a shard with the merge', async () => {
    const run = wholeRun(60);
    const dir = await mkdtemp(path.join(tmp, 'listing-'));
    const a = await writeShards(await mkdtemp(path.join(dir, 'a-')), run, 2);
    const grown = wholeRun(61);
    const b = await writeShards(await mkdtemp(path.join(dir, 'b-')), grown, 2);
    await expect(mergeShards([a.json[0]!, b.json[1]!], { json: path.join(dir, 'm.json') })).rejects.toThrow(/saw 60 files and shard 2\/2 .* 61, not the same ones: the input changed between their runs/);
    // A shard edited to hold a file of another: found, named.
    const doc = JSON.parse(await readFile(a.json[1]!, 'utf8'));
    const first = JSON.parse(await readFile(a.json[0]!, 'utf8'));
    doc.results.push(first.results[0]);
    doc.results.sort((x: { file: string }, y: { file: string }) => (x.file < y.file ? -1 : 1));
    await writeFile(a.json[1]!, JSON.stringify(doc, null, 2) + '\n');
    await expect(mergeShards(a.json, { json: path.join(dir, 'm.json') })).rejects.toThrow(new RegExp(`"${first.results[0].file}" is in the results of shard 1/2 .* and of shard 2/2`));
    await expect(mergeShards(a.json, { json: a.json[0]! })).rejects.toThrow(/is one of the shard files being merged/);
  });

  it('refuses the journal of a shard that did not finish; --partial merges what is there and says what is missing', async () => {
    const run = wholeRun(90);
    const dir = await mkdtemp(path.join(tmp, 'partial-'));
    const a = await writeShards(dir, run, 3);
    const lines = (await readFile(a.journals[1]!, 'utf8')).trimEnd().split('\n');
    await writeFile(a.journals[1]!, lines.slice(0, 6).join('\n') + '\n');
    await expect(mergeShards([a.json[0]!, a.journals[1]!, a.json[2]!], { json: path.join(dir, 'm.json') })).rejects.toThrow(/shard 2\/3 \(.*shard-2\.journal\.jsonl\): the journal of a run that did not finish .* --resume/);
    const p = await merged(dir, [a.json[0]!, a.journals[1]!], { partial: true });
    expect(p.summary.complete).toBe(false);
    expect(p.summary.missing).toEqual([3]);
    expect(p.summary.merged.find((m) => m.shard === '2/3')!.complete).toBe(false);
    const inShards12 = run.results.filter((r) => shardOfFile(r.file, 3) === 1).length + run.failed.filter((f) => shardOfFile(f.file, 3) === 1).length + 5;
    expect(p.summary.results + p.summary.failed).toBe(inShards12);
    expect(p.summary.unaccounted).toBe(run.results.length + run.failed.length - inShards12);
  });

  it('refuses a CSV or a file that is neither, naming it', async () => {
    const dir = await mkdtemp(path.join(tmp, 'bad-'));
    const csv = path.join(dir, 'shard.csv');
    await writeResults(resultsContent('pack', {}, 'cpu', wholeRun(3).results, []), { csv });
    await expect(mergeShards([csv], { json: path.join(dir, 'm.json') })).rejects.toThrow(/shard\.csv: a CSV names no pack, mix or shard/);
    const junk = path.join(dir, 'notes.txt');
    await writeFile(junk, 'hello');
    await expect(mergeShards([junk], { json: path.join(dir, 'm.json') })).rejects.toThrow(/notes\.txt: not a results JSON or journal of rws run/);
    await writeFile(junk, '{"pack": 1}');
    await expect(mergeShards([junk], { json: path.join(dir, 'm.json') })).rejects.toThrow(/notes\.txt: not a results file of rws run/);
  });
});
