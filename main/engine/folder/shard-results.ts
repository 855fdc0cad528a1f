// What `rws merge` reads of one shard: its journal or its results JSON, indexed without holding
// its rows. A million results do not fit in memory as objects (nor a results JSON that large in one
// string), so the first pass keeps each row's file name and byte range, and rows are read back,
// in file order, when the merged file is written.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { RwsError } from '../../core/errors.js';
import { openRegular, READ_FLAGS, type FileError, type ReadWhat } from '../io/regular-file.js';
import type { ConditionMix } from '../../core/signature.js';
import { journalRecord, type FileFailure, type JournalHeader } from './journal.js';
import type { ResultRow, ShardRecord } from './results-file.js';
import type { Listing, Shard } from './shard.js';

/** One shard's output, indexed: what run it is, its failures, and where each result row lies. */
export interface ShardResults {
  /** The file as given. */
  source: string;
  kind: 'journal' | 'results';
  pack: string;
  /** The run's identity (pack, model and signature hashes); absent in the results of a run without --shard. */
  run?: string;
  mix: ConditionMix | 'auto';
  top?: number;
  /** The shard it is; 1/1 when the file names none (a whole run). */
  shard: Shard;
  /** Whether the file says which shard it is. */
  sharded: boolean;
  device?: string;
  listing?: Listing;
  /** False for the journal of a run that was killed or stopped before its shard was done. */
  complete: boolean;
  /** Sorted by file. */
  failed: FileFailure[];
  /** Result rows sorted by file. */
  rows: RowIndex;
  /** Classes per row (the CSV's columns); 0 without rows. */
  topWidth: number;
}

/** Where each result row is: `files[i]` lies in bytes `start[i]` .. `start[i] + length[i]` (or in `held[i]`). */
export interface RowIndex {
  files: string[];
  start: Float64Array;
  length: Uint32Array;
  /** Rows of a results file read whole (not in the layout `rws run` writes). */
  held?: ResultRow[];
}

/** A result row as the shard recorded it (`mix` per file; `device` in journals). */
type RawRow = ResultRow & { device?: string };

/** Bytes read at a time by the first pass (a test makes it small to cut rows everywhere). */
const CHUNK = 4 * 1024 * 1024;
/** The head of a results file (pack, mix, device, shard) is found within this many bytes. */
const HEAD_LIMIT = 4 * 1024 * 1024;
/** A results file not in our layout is read whole; above this it is refused rather than exhaust memory. */
const WHOLE_LIMIT = 256 * 1024 * 1024;
const SHARD_FILE: ReadWhat = { what: "a shard's results", code: 'merge-input' };
const NL = 0x0a;

/**
 * Call `line` for each complete line of `file` (a last line without its newline is a line torn by
 * a kill, and left out), with the chunk holding it, its bounds there, and its offset in the file.
 */
async function eachLine(file: string, chunkBytes: number, line: (buf: Buffer, s: number, e: number, at: number) => void): Promise<void> {
  const fh = await open(file, READ_FLAGS);
  try {
    let carry = Buffer.alloc(0);
    let pos = 0; // file offset of carry[0]
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await fh.read(chunk, 0, chunkBytes, null);
      if (bytesRead === 0) break;
      const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
      let s = 0;
      for (let e = buf.indexOf(NL, s); e !== -1; e = buf.indexOf(NL, s)) {
        line(buf, s, e, pos + s);
        s = e + 1;
      }
      carry = Buffer.from(buf.subarray(s));
      pos += s;
    }
  } finally {
    await fh.close();
  }
}

const B = (t: string) => Buffer.from(t, 'utf8');
/** Where a row of a results file starts: rows are `    {` at four spaces, and `file` is their first key. */
const ROW_START = B('\n    {\n      "file": ');
/** Where the rows end: the results array's `]` at two spaces (deeper lines have more). */
const ROWS_END = B('\n  ]');
/** A row's second key; a failure has `code` there. */
const ROW_TOP = B('      "top": ');
const RESULTS_OPEN = B('\n  "results": [');
/** A journal's result line starts so, and its `top` follows the file name (RunJournal writes them so). */
const JOURNAL_RESULT = B('{"file":');
const JOURNAL_TOP = B('","top":[');

/** Rows gathered in file order of appearance, sorted and checked into a RowIndex. */
class RowCollector {
  private files: string[] = [];
  private start: number[] = [];
  private length: number[] = [];
  add(file: string, start: number, length: number): void {
    this.files.push(file);
    this.start.push(start);
    this.length.push(length);
  }
  /** The index sorted by file; refuses a file listed twice. */
  index(source: string): RowIndex {
    const files = this.files;
    let sorted = true;
    for (let i = 1; i < files.length && sorted; i++) sorted = files[i - 1]! < files[i]!;
    if (sorted) return { files, start: Float64Array.from(this.start), length: Uint32Array.from(this.length) };
    const order = files.map((_, i) => i).sort((a, b) => (files[a]! < files[b]! ? -1 : files[a]! > files[b]! ? 1 : 0));
    const out = order.map((i) => files[i]!);
    for (let i = 1; i < out.length; i++) {
      if (out[i] === out[i - 1]) throw new RwsError('merge-duplicate', `${source}: "${out[i]}" has two results in this file`, { file: source });
    }
    return { files: out, start: Float64Array.from(order, (i) => this.start[i]!), length: Uint32Array.from(order, (i) => this.length[i]!) };
  }
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** A journal: the latest record per file wins, as when a run resumes it. */
async function readJournal(file: string, chunkBytes: number): Promise<ShardResults> {
  let header: JournalHeader | undefined;
  const slot = new Map<string, number>();
  const rows = new RowCollector();
  const starts: number[] = [];
  const lengths: number[] = [];
  const failures = new Map<string, FileFailure>();
  let complete: { device: string; listing: Listing } | undefined;
  let device: string | undefined;
  const result = (name: string, at: number, bytes: number) => {
    const i = slot.get(name);
    if (i === undefined) {
      slot.set(name, starts.length);
      starts.push(at);
      lengths.push(bytes);
    } else {
      starts[i] = at;
      lengths[i] = bytes;
    }
    failures.delete(name);
    complete = undefined;
  };
  await eachLine(file, chunkBytes, (buf, s, e, at) => {
    if (e === s) return;
    // Result lines, nearly all of them: only the name is read now, the rest when the row is written.
    const top = device === undefined ? -1 : buf.indexOf(JOURNAL_TOP, s);
    if (top !== -1 && top < e && buf.compare(JOURNAL_RESULT, 0, JOURNAL_RESULT.length, s, s + JOURNAL_RESULT.length) === 0) {
      let name: unknown;
      try {
        name = JSON.parse(buf.toString('utf8', s + JOURNAL_RESULT.length, top + 1));
      } catch {
        name = undefined;
      }
      if (typeof name === 'string') return result(name, at, e - s);
    }
    const rec = journalRecord(buf.toString('utf8', s, e));
    if (!rec) return;
    if (rec.kind === 'header') header ??= rec.header;
    else if (rec.kind === 'complete') complete = rec.complete;
    else if (rec.kind === 'result') {
      device ??= rec.result.device;
      result(rec.result.file, at, e - s);
    } else {
      slot.delete(rec.failure.file);
      failures.set(rec.failure.file, rec.failure);
      complete = undefined;
    }
  });
  if (!header) throw new RwsError('merge-input', `${file}: not a journal of rws run (no header line)`, { file });
  for (const [name, i] of slot) rows.add(name, starts[i]!, lengths[i]!);
  slot.clear();
  const shard = header.shard ?? { index: 1, count: 1 };
  return {
    source: file,
    kind: 'journal',
    pack: header.pack,
    run: header.model,
    mix: header.mix,
    top: header.top,
    shard,
    sharded: Boolean(header.shard),
    device: complete?.device ?? device,
    listing: complete?.listing,
    complete: Boolean(complete),
    failed: [...failures.values()].sort(byFile),
    rows: rows.index(file),
    topWidth: 0,
  };
}

interface ResultsHead {
  pack: string;
  mix: ConditionMix | 'auto';
  device: string;
  shard?: ShardRecord;
}

function checkHead(file: string, head: Partial<ResultsHead>): ResultsHead {
  if (typeof head.pack !== 'string' || typeof head.device !== 'string' || (head.mix !== 'auto' && (typeof head.mix !== 'object' || head.mix === null))) {
    throw new RwsError('merge-input', `${file}: not a results file of rws run (pack, mix and device expected)`, { file });
  }
  const sh = head.shard;
  if (sh !== undefined && (!Number.isInteger(sh.index) || !Number.isInteger(sh.count) || typeof sh.run !== 'string' || !sh.listing)) {
    throw new RwsError('merge-input', `${file}: field "shard" is not what rws run --shard writes`, { file, field: 'shard' });
  }
  return head as ResultsHead;
}

function fromHead(file: string, head: ResultsHead, failed: FileFailure[], rows: RowIndex): ShardResults {
  return {
    source: file,
    kind: 'results',
    pack: head.pack,
    run: head.shard?.run,
    mix: head.mix,
    top: head.shard?.top,
    shard: head.shard ? { index: head.shard.index, count: head.shard.count } : { index: 1, count: 1 },
    sharded: Boolean(head.shard),
    device: head.device,
    listing: head.shard?.listing,
    complete: true,
    failed: failed.map((f) => ({ file: f.file, code: f.code, message: f.message })).sort(byFile),
    rows,
    topWidth: 0,
  };
}

/** Layout surprises: the file is not as `rws run` writes it (reformatted, or cut short). */
class NotOurLayout extends Error {}

/**
 * A results JSON of `rws run`, in the layout it writes (two-space indents, a row from `    {` to
 * `    }`, `file` first): the rows are found by their first line alone, so a pass over a file of a
 * million rows touches little more than their names. A reformatted file is read whole when it is
 * small enough.
 */
async function readResultsJson(file: string, chunkBytes: number): Promise<ShardResults> {
  const fh = await open(file, READ_FLAGS);
  try {
    return await scanResultsJson(file, fh, chunkBytes);
  } catch (e) {
    if (!(e instanceof NotOurLayout)) throw e;
  } finally {
    await fh.close();
  }
  return readResultsWhole(file);
}

async function scanResultsJson(file: string, fh: FileHandle, chunkBytes: number): Promise<ShardResults> {
  let buf = Buffer.alloc(0);
  let at = 0; // file offset of buf[0]
  const fill = async (): Promise<boolean> => {
    const chunk = Buffer.allocUnsafe(chunkBytes);
    const { bytesRead } = await fh.read(chunk, 0, chunkBytes, at + buf.length);
    if (bytesRead === 0) return false;
    buf = buf.length ? Buffer.concat([buf, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
    return true;
  };
  const drop = (n: number) => {
    buf = buf.subarray(n);
    at += n;
  };

  // The head: everything before the results array (pack, mix, device, shard).
  let open_ = -1;
  while ((open_ = buf.indexOf(RESULTS_OPEN)) === -1) {
    if (buf.length > HEAD_LIMIT || !(await fill())) throw new NotOurLayout();
  }
  const headText = buf.toString('utf8', 0, open_ + 1);
  let pos = open_ + RESULTS_OPEN.length;
  while (buf.length < pos + 1) if (!(await fill())) throw new NotOurLayout();
  const rows = new RowCollector();
  let tailFrom: number;
  if (buf[pos] === 0x5d /* ] */) tailFrom = pos + 1; // `"results": [],`: no rows
  else {
    let pending = -1; // file offset where the row being read starts
    let pendingFile = '';
    for (;;) {
      const j = buf.indexOf(ROW_START, pos);
      if (j !== -1) {
        const ls = j + ROW_START.length;
        const le = buf.indexOf(NL, ls);
        // The line after the name must be there too: it tells a row (`top`) from a failure (`code`).
        const next = le === -1 ? -1 : le + 1 + ROW_TOP.length;
        if (next !== -1 && next <= buf.length) {
          if (buf.compare(ROW_TOP, 0, ROW_TOP.length, le + 1, next) !== 0) {
            // The failures after the rows look like rows but for this line: the rows ended before.
            const q = buf.indexOf(ROWS_END, pos);
            if (q === -1 || q > j) throw new NotOurLayout();
            if (pending >= 0) rows.add(pendingFile, pending, at + q - pending);
            tailFrom = q + ROWS_END.length;
            break;
          }
          // The row before ends at the `,` before this one.
          if (pending >= 0) rows.add(pendingFile, pending, at + j - 1 - pending);
          try {
            pendingFile = JSON.parse(buf.toString('utf8', ls, buf[le - 1] === 0x2c ? le - 1 : le)) as string;
          } catch {
            throw new NotOurLayout();
          }
          if (typeof pendingFile !== 'string') throw new NotOurLayout();
          pending = at + j + 1;
          pos = le;
          continue;
        }
        // The row's first lines are cut by the chunk: read on from its start, unless the rows ended
        // before it (it is the first failure, and dropping the bytes before it would lose their end).
        const q = buf.indexOf(ROWS_END, pos);
        if (q !== -1 && q < j) {
          if (pending >= 0) rows.add(pendingFile, pending, at + q - pending);
          tailFrom = q + ROWS_END.length;
          break;
        }
        pos = j;
      } else {
        const q = buf.indexOf(ROWS_END, pos);
        if (q !== -1) {
          if (pending >= 0) rows.add(pendingFile, pending, at + q - pending);
          tailFrom = q + ROWS_END.length;
          break;
        }
        pos = Math.max(pos, buf.length - ROW_START.length);
      }
      drop(pos);
      pos = 0;
      if (!(await fill())) throw new NotOurLayout();
    }
  }
  // The tail: the failures, to the end of the file.
  drop(tailFrom);
  while (await fill());
  let head: Partial<ResultsHead>;
  let tail: { failed?: FileFailure[] };
  try {
    head = JSON.parse(headText + '"results": []}') as Partial<ResultsHead>;
    tail = JSON.parse(`{"results": []${buf.toString('utf8')}`) as { failed?: FileFailure[] };
  } catch {
    throw new NotOurLayout();
  }
  if (!Array.isArray(tail.failed)) throw new NotOurLayout();
  return fromHead(file, checkHead(file, head), tail.failed, rows.index(file));
}

async function readResultsWhole(file: string): Promise<ShardResults> {
  const size = (await stat(file)).size;
  if (size > WHOLE_LIMIT) throw new RwsError('merge-input', `${file}: not in the layout rws run writes, and too large (${size} bytes) to read whole: merge the file rws run wrote, or its journal`, { file });
  const fh = await open(file, READ_FLAGS);
  let doc: Partial<ResultsHead> & { results?: RawRow[]; failed?: FileFailure[] };
  try {
    doc = JSON.parse(await fh.readFile('utf8'));
  } catch (e) {
    throw new RwsError('merge-input', `${file}: not valid JSON (${(e as Error).message})`, { file });
  } finally {
    await fh.close();
  }
  if (!doc || !Array.isArray(doc.results) || !Array.isArray(doc.failed)) throw new RwsError('merge-input', `${file}: not a results file of rws run (no "results" and "failed" lists)`, { file });
  const head = checkHead(file, doc);
  const held = [...doc.results].sort(byFile);
  const files = held.map((r) => r.file);
  for (let i = 1; i < files.length; i++) {
    if (files[i] === files[i - 1]) throw new RwsError('merge-duplicate', `${file}: "${files[i]}" has two results in this file`, { file });
  }
  return fromHead(file, head, doc.failed, { files, start: new Float64Array(0), length: new Uint32Array(0), held });
}

/**
 * Read one shard's journal (`.jsonl`) or results JSON, indexed. CSV carries no run identity and is
 * refused. `chunkBytes`: bytes read at a time.
 */
export async function readShardResults(file: string, opts: { chunkBytes?: number } = {}): Promise<ShardResults> {
  const chunkBytes = opts.chunkBytes ?? CHUNK;
  let fh;
  try {
    // A FIFO or a device given as a shard would block the merge or never end: only regular files.
    ({ fh } = await openRegular(file, SHARD_FILE));
  } catch (e) {
    const code = (e as FileError).errno;
    if (code === undefined) throw e;
    throw new RwsError('merge-input', `${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : code})`, { file });
  }
  const head = Buffer.alloc(64);
  const { bytesRead } = await fh.read(head, 0, 64, 0);
  await fh.close();
  const start = head.toString('utf8', 0, bytesRead);
  let shard: ShardResults;
  if (/^\{"journal":/.test(start)) shard = await readJournal(file, chunkBytes);
  else if (/^\s*\{/.test(start)) shard = await readResultsJson(file, chunkBytes);
  else if (/^file,status,/.test(start)) {
    throw new RwsError('merge-input', `${file}: a CSV names no pack, mix or shard, so it cannot be checked against the others: merge the shards' JSON results or journals`, { file });
  } else throw new RwsError('merge-input', `${file}: not a results JSON or journal of rws run`, { file });
  if (shard.rows.files.length) {
    const reader = new RowReader(file, shard.rows, CHUNK);
    shard.topWidth = (await reader.row(0)).top.length;
  }
  return shard;
}

/** A part of a file read into memory. */
interface Window {
  at: number;
  bytes: Buffer;
}

/** Windows kept per shard: a journal resumed after files were added is read from a few places in turn. */
const KEPT_WINDOWS = 4;

/**
 * Reads a shard's rows back by index. Rows are read in file order, which is the order they lie
 * in (results files) or nearly (journals), so a window of the file serves most of them; the next
 * window is read while this one is used, and the last few are kept for rows that lie elsewhere.
 */
export class RowReader {
  /** Most recently used first. */
  private windows: Window[] = [];
  private ahead?: { at: number; bytes: Promise<Buffer> };
  private readonly windowBytes: number;

  /** `bytes`: the memory this reader may hold, its windows and the one read ahead together. */
  constructor(
    private readonly source: string,
    private readonly rows: RowIndex,
    bytes: number,
  ) {
    this.windowBytes = Math.max(1, Math.floor(bytes / (KEPT_WINDOWS + 1)));
  }

  /** Row `i` of the shard's index. */
  async row(i: number): Promise<RawRow> {
    const idx = this.rows;
    if (idx.held) return idx.held[i]!;
    const start = idx.start[i]!;
    const length = idx.length[i]!;
    const k = this.windows.findIndex((w) => start >= w.at && start + length <= w.at + w.bytes.length);
    let w: Window;
    if (k === 0) w = this.windows[0]!;
    else if (k > 0) {
      w = this.windows.splice(k, 1)[0]!;
      this.windows.unshift(w);
    } else w = await this.load(start, length);
    const off = start - w.at;
    let row: RawRow;
    try {
      row = JSON.parse(w.bytes.toString('utf8', off, off + length)) as RawRow;
    } catch {
      row = { file: '', top: [] };
    }
    if (row.file !== idx.files[i] || !Array.isArray(row.top)) {
      throw new RwsError('merge-input', `${this.source}: changed while it was being merged (result "${idx.files[i]}" is no longer where it was)`, { file: this.source });
    }
    return row;
  }

  private async load(start: number, length: number): Promise<Window> {
    const a = this.ahead;
    let w: Window | undefined;
    if (a && start >= a.at) {
      const got = await a.bytes;
      if (start + length <= a.at + got.length) w = { at: a.at, bytes: got };
    }
    w ??= { at: start, bytes: await this.read(start, Math.max(length, this.windowBytes)) };
    this.windows.unshift(w);
    this.windows.length = Math.min(this.windows.length, KEPT_WINDOWS);
    const next = w.at + w.bytes.length;
    const p = this.read(next, this.windowBytes);
    p.catch(() => {}); // a failure shows when the window is used
    this.ahead = { at: next, bytes: p };
    return w;
  }

  private async read(at: number, size: number): Promise<Buffer> {
    // Each window opens the file anew: a merge of a thousand shards holds no thousand descriptors.
    const fh = await open(this.source, READ_FLAGS);
    try {
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await fh.read(buf, 0, size, at);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
}
