// A folder run's results as `rws run --json/--csv` and the app's folder runs write them: no
// timestamps, sorted by path, streamed a row at a time (a 50,000-image run never builds the whole
// text) and atomically (readers see the old file or the whole new one).
import type { FileHandle } from 'node:fs/promises';
import type { ConditionMix } from '../../core/signature.js';
import type { TopClass } from '../../core/tensors.js';
import { writeFileAtomicWith } from '../io/atomic-file.js';
import type { FileFailure, FileResult } from './journal.js';
import type { Listing } from './shard.js';

/** One result row; `mix` is the mix Auto chose for the file (written only for an auto run), `blend` the second mix of a hedge. */
export interface ResultRow {
  file: string;
  top: TopClass[];
  mix?: ConditionMix;
  blend?: ConditionMix;
}

/**
 * What the results file of one shard (`rws run --shard`) says of its run, so that `rws merge` can
 * check that shards belong together: which shard, the run's identity (pack, model and signature
 * hashes), `--top`, and the whole input's listing.
 */
export interface ShardRecord {
  index: number;
  count: number;
  run: string;
  top: number;
  listing: Listing;
}

/** What a results file holds: `rows` and `failed` each sorted by file. */
export interface ResultsFileContent {
  pack: string;
  /** The run's mix, or `auto` when Auto chose one per file (each row then says which). */
  mix: ConditionMix | 'auto';
  device: string;
  /** Only in a shard's own results (a merge of all shards is the whole run's and has none). */
  shard?: ShardRecord;
  /** Read once per file written (a merge streams them from the shards' files). */
  rows: Iterable<ResultRow> | AsyncIterable<ResultRow>;
  /** Most classes a row has (the CSV's columns). */
  topWidth: number;
  failed: readonly FileFailure[];
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** The content of a run held in memory (rws run): results and failures sorted by path. */
export function resultsContent(pack: string, mix: ConditionMix | 'auto', device: string, results: Iterable<FileResult>, failed: Iterable<FileFailure>): ResultsFileContent & { rows: ResultRow[] } {
  const rows = [...results].sort(byFile).map((r): ResultRow => (mix === 'auto' ? { file: r.file, top: r.top, mix: r.mix, ...(r.blend ? { blend: r.blend } : {}) } : { file: r.file, top: r.top }));
  return { pack, mix, device, rows, topWidth: Math.max(0, ...rows.map((r) => r.top.length)), failed: [...failed].sort(byFile) };
}

/** Bytes gathered before each write: few syscalls, and the same two buffers all along (no garbage). */
const CHUNK = 1024 * 1024;

/**
 * Encodes a file's text into a buffer and writes it a chunk at a time, one write in flight while
 * the other buffer fills: memory stays at two chunks whatever the size of the file.
 */
class ChunkWriter {
  private buf = Buffer.allocUnsafe(CHUNK);
  private spare = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  /** Text that did not fit; written by the next flush. */
  private over: string[] = [];
  private writing: Promise<unknown> = Promise.resolve();
  constructor(private readonly fh: FileHandle) {}
  /** Add text; true when the buffer is full and `flush` is due (no promise per row). */
  put(text: string): boolean {
    // UTF-8 takes at most three bytes per UTF-16 unit.
    if (this.over.length === 0 && text.length * 3 <= CHUNK - this.used) {
      this.used += this.buf.write(text, this.used, 'utf8');
      return false;
    }
    this.over.push(text);
    return true;
  }
  async flush(): Promise<void> {
    await this.send();
    const over = this.over;
    this.over = [];
    for (const text of over) if (this.put(text)) await this.send(text);
  }
  /** Write the buffer (and `direct`, too long for it, after it); the other buffer fills meanwhile. */
  private async send(direct?: string): Promise<void> {
    await this.writing;
    if (this.used > 0) {
      const full = this.buf.subarray(0, this.used);
      [this.buf, this.spare] = [this.spare, this.buf];
      this.used = 0;
      this.writing = this.fh.write(full);
    }
    if (direct !== undefined) {
      this.over.pop();
      await this.writing;
      this.writing = this.fh.write(direct);
    }
    // Awaited by the next send or by close; this only keeps a failure from going unhandled meanwhile.
    this.writing.catch(() => {});
  }
  /** Write what is left and wait for every write. */
  async close(): Promise<void> {
    await this.flush();
    await this.writing;
  }
}

/** A format's text for the parts of a results file: its start, each row in file order, its end. */
interface Layout {
  start(): string;
  /** `scores`: each class's score as `String` writes it (computed once for all the formats written). */
  row(r: ResultRow, scores: string[]): string;
  end(): string;
}

/** Each class's score as `String` writes it; turning a double into its shortest text is the dearest part of a row. */
const scoreTexts = (r: ResultRow): string[] => r.top.map((t) => String(t.score));

const indent = (json: string, by: string) => json.replace(/\n/g, `\n${by}`);
const str = JSON.stringify as (v: unknown) => string;

/**
 * A result row as `JSON.stringify({file, top, mix?}, null, 2)` writes it, indented four more
 * spaces, written out: a merge writes a million of them. Each class is `{index, label, score}`,
 * the results format, whatever else the object holds.
 */
export function rowJson(r: ResultRow, auto: boolean, scores = scoreTexts(r)): string {
  let s = '{\n      "file": ' + str(r.file) + ',\n      "top": ';
  if (r.top.length === 0) s += '[]';
  else {
    for (let i = 0; i < r.top.length; i++) {
      const t = r.top[i]!;
      // JSON writes what String does for a finite number, and null for the others.
      const score = typeof t.score === 'number' && Number.isFinite(t.score) ? scores[i]! : str(t.score);
      s += (i ? ',\n        {\n          "index": ' : '[\n        {\n          "index": ') + str(t.index) + ',\n          "label": ' + str(t.label) + ',\n          "score": ' + score + '\n        }';
    }
    s += '\n      ]';
  }
  if (auto && r.mix !== undefined) s += ',\n      "mix": ' + indent(JSON.stringify(r.mix, null, 2), '      ');
  if (auto && r.blend !== undefined) s += ',\n      "blend": ' + indent(JSON.stringify(r.blend, null, 2), '      ');
  return s + '\n    }';
}

/** `JSON.stringify({pack, mix, device, [shard,] results, failed}, null, 2)` and a newline, a row at a time. */
function jsonLayout(c: ResultsFileContent): Layout {
  const failed = c.failed.map((f) => ({ file: f.file, code: f.code, message: f.message }));
  const auto = c.mix === 'auto';
  const head = c.shard ? { pack: c.pack, mix: c.mix, device: c.device, shard: c.shard } : { pack: c.pack, mix: c.mix, device: c.device };
  // The frame around the rows, from JSON.stringify itself; JSON text has no raw newline inside a
  // string, so this marker can only match the results array.
  const frame = JSON.stringify({ ...head, results: [0], failed }, null, 2) + '\n';
  const marker = '"results": [\n    0\n  ]';
  const at = frame.indexOf(marker);
  let first = true;
  return {
    start: () => frame.slice(0, at) + '"results": [',
    row: (r, scores) => {
      const text = (first ? '\n    ' : ',\n    ') + rowJson(r, auto, scores);
      first = false;
      return text;
    },
    end: () => (first ? ']' : '\n  ]') + frame.slice(at + marker.length),
  };
}

const csvMix = (mix: ConditionMix) => Object.entries(mix).map(([id, a]) => `${id}=${a}`).join(';');

function csvField(v: string | number): string {
  // A text cell starting like a formula (a file named `=HYPERLINK(...).png`, a label `@cmd`) is
  // run by spreadsheets that open the CSV: prefixed with ' it stays text, as OWASP advises.
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A class's index or label as a cell: empty when missing; a number as it is (it needs no quotes). */
const csvCell = (v: string | number | undefined | null) => (v === undefined || v === null ? '' : typeof v === 'number' ? String(v) : csvField(v));

/**
 * CSV (RFC 4180; text cells that would start a spreadsheet formula get a leading '), results and
 * failures merged in file order: one row per file, `status` ok or failed, then index, label and
 * score of each of the k best classes, for an auto run the mix chosen (`id=α;id=α`, empty for the
 * clean model; `id=α | id=α` for a hedge of two), then the failure's code and message.
 */
function csvLayout(c: ResultsFileContent): Layout {
  const k = c.topWidth;
  const auto = c.mix === 'auto';
  const failed = c.failed;
  let f = 0;
  const failure = (x: FileFailure) => {
    const row: (string | number)[] = [x.file, 'failed'];
    for (let i = 0; i < k; i++) row.push('', '', '');
    if (auto) row.push('');
    row.push(x.code, x.message);
    return row.map(csvField).join(',') + '\r\n';
  };
  // Labels repeat on every row: each is quoted once.
  const labels = new Map<string, string>();
  const label = (l: string | undefined) => {
    if (typeof l !== 'string') return csvCell(l);
    let q = labels.get(l);
    if (q === undefined) labels.set(l, (q = csvField(l)));
    return q;
  };
  return {
    start: () => {
      const head = ['file', 'status'];
      for (let i = 1; i <= k; i++) head.push(`top${i}_index`, `top${i}_label`, `top${i}_score`);
      if (auto) head.push('mix');
      head.push('error_code', 'error_message');
      return head.map(csvField).join(',') + '\r\n';
    },
    row: (r, scores) => {
      let text = '';
      // A result comes before a failure of the same name.
      while (f < failed.length && failed[f]!.file < r.file) text += failure(failed[f++]!);
      // One string, not an array of cells: a merge writes a million rows.
      let line = csvField(r.file) + ',ok';
      for (let i = 0; i < k; i++) {
        const t = r.top[i];
        line += t ? ',' + csvCell(t.index) + ',' + label(t.label) + ',' + (typeof t.score === 'number' ? scores[i] : csvCell(t.score)) : ',,,';
      }
      if (auto) line += ',' + csvField(r.mix ? csvMix(r.mix) + (r.blend ? ` | ${csvMix(r.blend)}` : '') : '');
      return text + line + ',,\r\n';
    },
    end: () => {
      let text = '';
      while (f < failed.length) text += failure(failed[f++]!);
      return text;
    },
  };
}

/** Run `body` with a temp file open for each target; all are renamed into place only if it succeeds. */
function withAtomicFiles(files: string[], body: (handles: FileHandle[]) => Promise<void>, handles: FileHandle[] = []): Promise<void> {
  if (handles.length === files.length) return body(handles);
  return writeFileAtomicWith(files[handles.length]!, (fh) => withAtomicFiles(files, body, [...handles, fh]));
}

/**
 * Write the results as JSON and/or CSV, each atomically (readers see the old file or the whole new
 * one), streamed in one pass over the rows: a merge reads each row from its shard once.
 */
export async function writeResults(content: ResultsFileContent, out: { json?: string; csv?: string }): Promise<void> {
  const targets: [string, Layout][] = [];
  if (out.json) targets.push([out.json, jsonLayout(content)]);
  if (out.csv) targets.push([out.csv, csvLayout(content)]);
  if (targets.length === 0) return;
  await withAtomicFiles(
    targets.map(([file]) => file),
    async (handles) => {
      const sinks = targets.map(([, layout], i) => ({ layout, w: new ChunkWriter(handles[i]!) }));
      for (const s of sinks) s.w.put(s.layout.start());
      // The loop is written twice so that rows held in memory cost no promise each.
      const rows = content.rows;
      if (Symbol.iterator in rows) {
        for (const r of rows) {
          const scores = scoreTexts(r);
          for (const s of sinks) if (s.w.put(s.layout.row(r, scores))) await s.w.flush();
        }
      } else {
        for await (const r of rows) {
          const scores = scoreTexts(r);
          for (const s of sinks) if (s.w.put(s.layout.row(r, scores))) await s.w.flush();
        }
      }
      for (const s of sinks) {
        s.w.put(s.layout.end());
        await s.w.close();
      }
    },
  );
}

/** Write a run's results as JSON or CSV, streamed and atomically. */
export function writeResultsFile(file: string, format: 'json' | 'csv', content: ResultsFileContent): Promise<void> {
  return writeResults(content, { [format]: file });
}
