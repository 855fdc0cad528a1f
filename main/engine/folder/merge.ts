// `rws merge`: the shards of one run (`rws run --shard I/N`) into the results one run over the
// whole input writes, through the same results writer, streamed and atomically. Shards of another
// run (pack, model, mix, --top, N), missing or given twice, or that saw another listing, are
// refused before anything is written.
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { MinHeap } from '../../core/min-heap.js';
import type { ConditionMix } from '../../core/signature.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import { runDifference, type FileFailure, type JournalHeader } from './journal.js';
import { writeResults, type ResultRow } from './results-file.js';
import { readShardResults, RowReader, type ShardResults } from './shard-results.js';
import { shardText, type Listing } from './shard.js';

/** Where the merge writes: results as JSON and/or CSV, and its summary (JSON). */
export interface MergeOutputs {
  json?: string;
  csv?: string;
  summary?: string;
}

export interface MergeOptions {
  /** Merge what is there: missing shards and unfinished journals are reported, not refused. */
  partial?: boolean;
}

/** One input of the merge, as the summary lists it. */
export interface MergedShard {
  shard: string;
  source: string;
  results: number;
  failed: number;
  device?: string;
  complete: boolean;
}

/** What the merge did: the summary file's content (no timestamps, like the results). */
export interface MergeSummary {
  pack: string;
  run?: string;
  mix: ConditionMix | 'auto';
  device: string;
  shards: number;
  merged: MergedShard[];
  /** Shard numbers with no input (only with `partial`). */
  missing: number[];
  results: number;
  failed: number;
  /** The whole input's listing, when the shards recorded it. */
  listing?: Listing;
  /** Entries of the listing in no shard's results (only with `partial`). */
  unaccounted: number;
  complete: boolean;
}

/** Memory for the windows the rows are read through, shared by all shards. */
const WINDOW_BUDGET = 32 * 1024 * 1024;

const refuse = (message: string, field?: string) => new RwsError('merge-mismatch', message, { field });
const name = (s: ShardResults) => `shard ${shardText(s.shard)} (${s.source})`;

/** The journal-header view of a shard, so the same comparison serves resume and merge. */
function asHeader(s: ShardResults): JournalHeader {
  return { journal: 'rws-run/1', inputs: [], pack: s.pack, model: s.run ?? '', mix: s.mix, top: s.top ?? 0, shard: s.shard };
}

/** Refuses shards of different runs, naming both shards and what differs. */
function checkSameRun(shards: ShardResults[]): void {
  const first = shards[0]!;
  for (const s of shards.slice(1)) {
    // A results file of a run without --shard does not record the identity nor --top: compare what both have.
    const a = asHeader(first);
    const b = asHeader(s);
    if (first.run === undefined || s.run === undefined) a.model = b.model = '';
    if (first.top === undefined || s.top === undefined) a.top = b.top = 0;
    const d = runDifference(b, a, { inputs: false, shard: 'count' });
    if (d) throw refuse(`${name(s)} and ${name(first)} are not shards of one run: the ${d.what} is ${d.theirs} in one and ${d.ours} in the other; merge only shards of one run`, d.what);
  }
}

/**
 * The rows of all shards in file order, as (shard, row) pairs packed in one array; refuses a file
 * that two shards report (as results or failures).
 */
function mergeOrder(shards: ShardResults[], failedBy: Map<string, ShardResults>): Uint32Array {
  const total = shards.reduce((n, s) => n + s.rows.files.length, 0);
  const order = new Uint32Array(total * 2);
  const next = shards.map(() => 0);
  // Each shard's next file; the heap holds shard numbers, the least next file first.
  const keys = shards.map((s) => s.rows.files[0] ?? '');
  const heads = new MinHeap<number>((a, b) => keys[a]! < keys[b]!);
  shards.forEach((s, i) => s.rows.files.length && heads.push(i));
  const checkFailed = failedBy.size > 0;
  let n = 0;
  let prev: string | undefined;
  let prevShard = -1;
  while (heads.size) {
    const s = heads.pop()!;
    const files = shards[s]!.rows.files;
    const file = keys[s]!;
    if (file === prev) throw refuse(`"${file}" is in the results of ${name(shards[prevShard]!)} and of ${name(shards[s]!)}: shards of one run never share a file (were they run with different inputs or versions?)`);
    const failedIn = checkFailed ? failedBy.get(file) : undefined;
    if (failedIn) throw refuse(`"${file}" is a result in ${name(shards[s]!)} and a failure in ${name(failedIn)}: shards of one run never share a file`);
    order[2 * n] = s;
    order[2 * n + 1] = next[s]!;
    n++;
    prev = file;
    prevShard = s;
    const i = ++next[s]!;
    if (i < files.length) {
      keys[s] = files[i]!;
      heads.push(s);
    }
  }
  return order;
}

/** The merged rows, read back from the shards in file order: read once, by the writer. */
function mergedRows(shards: ShardResults[], order: Uint32Array, auto: boolean): AsyncIterable<ResultRow> {
  return {
    async *[Symbol.asyncIterator]() {
      const each = Math.min(20 * 1024 * 1024, Math.max(320 * 1024, Math.floor(WINDOW_BUDGET / Math.max(1, shards.length))));
      const readers = shards.map((s) => new RowReader(s.source, s.rows, each));
      for (let i = 0; i < order.length; i += 2) {
        const r = await readers[order[i]!]!.row(order[i + 1]!);
        yield auto ? { file: r.file, top: r.top, mix: r.mix ?? {}, ...(r.blend ? { blend: r.blend } : {}) } : { file: r.file, top: r.top };
      }
    },
  };
}

/** Refuses an output that is one of the inputs (it would be replaced while being read). */
async function checkOutputs(sources: string[], outputs: (string | undefined)[]): Promise<void> {
  const real = async (f: string) => realpath(f).catch(() => path.resolve(f));
  const inputs = new Set(await Promise.all(sources.map(real)));
  for (const o of outputs) {
    if (!o) continue;
    const r = path.join(await real(path.dirname(o)), path.basename(o));
    if (inputs.has(r)) throw new RwsError('usage-merge-output', `${o}: is one of the shard files being merged; write the merge elsewhere`, { file: o });
  }
}

/**
 * Merge the shards' journals or results files into one results JSON/CSV (what a single run over
 * the whole input writes, byte for byte) and a summary, each atomically. Everything is checked
 * before anything is written.
 */
export async function mergeShards(sources: string[], out: MergeOutputs, opts: MergeOptions = {}): Promise<MergeSummary> {
  if (sources.length === 0) throw new RwsError('usage-merge', 'rws merge: give the shards\' results files or journals', { field: 'SHARD_RESULTS' });
  await checkOutputs(sources, [out.json, out.csv, out.summary]);
  const shards: ShardResults[] = [];
  for (const source of sources) shards.push(await readShardResults(source));
  checkSameRun(shards);

  const count = shards[0]!.shard.count;
  const byIndex = new Map<number, ShardResults>();
  for (const s of shards) {
    const twin = byIndex.get(s.shard.index);
    if (twin) throw refuse(`shard ${shardText(s.shard)} is given twice: ${twin.source} and ${s.source}; give one of them`, 'shard');
    byIndex.set(s.shard.index, s);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !byIndex.has(i));
  const unfinished = shards.filter((s) => !s.complete);
  if (!opts.partial) {
    if (unfinished.length) {
      throw refuse(`${unfinished.map(name).join(', ')}: the journal of a run that did not finish (killed or stopped); re-run that shard with the same command and --resume, then merge again (or --partial to merge what is there)`, 'shard');
    }
    if (missing.length) {
      const list = missing.length > 10 ? `${missing.slice(0, 10).join(', ')}... (${missing.length} in all)` : missing.join(', ');
      throw refuse(`shards missing: ${list} of ${count}; run them (rws run --shard I/${count} ...) and merge again, or --partial to merge what is there`, 'shard');
    }
  }
  const listed = shards.filter((s) => s.listing);
  for (const s of listed.slice(1)) {
    const a = listed[0]!.listing!;
    const b = s.listing!;
    if (a.sha256 !== b.sha256) {
      throw refuse(`${name(listed[0]!)} saw ${a.entries} files and ${name(s)} ${b.entries}, not the same ones: the input changed between their runs, or they ran on different inputs; re-run the older shards with --resume on today's input`, 'listing');
    }
  }

  const failedBy = new Map<string, ShardResults>();
  const failed: FileFailure[] = [];
  for (const s of shards) {
    for (const f of s.failed) {
      const twin = failedBy.get(f.file);
      if (twin) throw refuse(`"${f.file}" is a failure in ${name(twin)} and in ${name(s)}: shards of one run never share a file`);
      failedBy.set(f.file, s);
      failed.push(f);
    }
  }
  failed.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const order = mergeOrder(shards, failedBy);
  const results = order.length / 2;
  const listing = listed[0]?.listing;
  const accounted = results + failed.length;
  if (listing && accounted > listing.entries) {
    throw refuse(`the shards hold ${accounted} files, but the input they listed has ${listing.entries}: a journal holds results of files that have gone since; merge the shards' results files instead`, 'listing');
  }
  const unaccounted = listing ? listing.entries - accounted : 0;
  if (listing && unaccounted > 0 && !opts.partial) {
    throw refuse(`${unaccounted} of the ${listing.entries} files the shards listed are in no shard's results; re-run the shards with --resume`, 'listing');
  }

  const devices = [...new Set(shards.map((s) => s.device).filter((d): d is string => Boolean(d)))].sort();
  const first = shards[0]!;
  const device = devices.join(',') || 'unknown';
  const auto = first.mix === 'auto';
  const topWidth = Math.max(0, ...shards.map((s) => s.topWidth));
  // Made only now: a refused merge leaves nothing behind.
  for (const f of [out.json, out.csv, out.summary]) if (f) await mkdir(path.dirname(f), { recursive: true });
  await writeResults({ pack: first.pack, mix: first.mix, device, rows: mergedRows(shards, order, auto), topWidth, failed }, { json: out.json, csv: out.csv });

  const summary: MergeSummary = {
    pack: first.pack,
    ...(shards.find((s) => s.run) ? { run: shards.find((s) => s.run)!.run } : {}),
    mix: first.mix,
    device,
    shards: count,
    merged: [...shards]
      .sort((a, b) => a.shard.index - b.shard.index)
      .map((s) => ({ shard: shardText(s.shard), source: s.source, results: s.rows.files.length, failed: s.failed.length, ...(s.device ? { device: s.device } : {}), complete: s.complete })),
    missing,
    results,
    failed: failed.length,
    ...(listing ? { listing } : {}),
    unaccounted,
    complete: missing.length === 0 && unfinished.length === 0 && unaccounted === 0,
  };
  if (out.summary) await writeFileAtomic(out.summary, JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
