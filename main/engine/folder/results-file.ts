// A folder run's results as `rws run --json/--csv` and the app's folder runs write them: no
// timestamps, sorted by path, streamed a row at a time (a 50,000-image run never builds the whole
// text) and atomically (readers see the old file or the whole new one).
import type { FileHandle } from 'node:fs/promises';
import type { ConditionMix } from '../../core/signature.js';
import type { TopClass } from '../../core/tensors.js';
import { writeFileAtomicWith } from '../io/atomic-file.js';
import type { FileFailure, FileResult } from './journal.js';

/** One result row; `mix` is the mix Auto chose for the file (written only for an auto run). */
export interface ResultRow {
  file: string;
  top: TopClass[];
  mix?: ConditionMix;
}

/** What a results file holds: `rows` and `failed` each sorted by file. */
export interface ResultsFileContent {
  pack: string;
  /** The run's mix, or `auto` when Auto chose one per file (each row then says which). */
  mix: ConditionMix | 'auto';
  device: string;
  rows: Iterable<ResultRow>;
  /** Most classes a row has (the CSV's columns). */
  topWidth: number;
  failed: readonly FileFailure[];
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** The content of a run held in memory (rws run): results and failures sorted by path. */
export function resultsContent(pack: string, mix: ConditionMix | 'auto', device: string, results: Iterable<FileResult>, failed: Iterable<FileFailure>): ResultsFileContent {
  const rows = [...results].sort(byFile).map((r): ResultRow => (mix === 'auto' ? { file: r.file, top: r.top, mix: r.mix } : { file: r.file, top: r.top }));
  return { pack, mix, device, rows, topWidth: Math.max(0, ...rows.map((r) => r.top.length)), failed: [...failed].sort(byFile) };
}

/**
 * Characters gathered before each write: few syscalls, little memory, and each joined chunk is
 * below V8's large-object size (128 KiB), so it dies young instead of waiting for a full GC.
 */
const CHUNK = 32 * 1024;

/** Appends text to a file in chunks of about CHUNK characters. */
class ChunkWriter {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly fh: FileHandle) {}
  async put(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= CHUNK) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    await this.fh.write(text);
  }
}

/** Stream `write` into `file` atomically: readers see the old file or the whole new one. */
async function streamAtomic(file: string, write: (w: ChunkWriter) => Promise<void>): Promise<void> {
  await writeFileAtomicWith(file, async (fh) => {
    const w = new ChunkWriter(fh);
    await write(w);
    await w.flush();
  });
}

const indent = (json: string, by: string) => json.replace(/\n/g, `\n${by}`);

/** `JSON.stringify({pack, mix, device, results, failed}, null, 2)` and a newline, a row at a time. */
async function writeJson(w: ChunkWriter, c: ResultsFileContent): Promise<void> {
  const failed = c.failed.map((f) => ({ file: f.file, code: f.code, message: f.message }));
  const auto = c.mix === 'auto';
  // The frame around the rows, from JSON.stringify itself; JSON text has no raw newline inside a
  // string, so this marker can only match the results array.
  const frame = JSON.stringify({ pack: c.pack, mix: c.mix, device: c.device, results: [0], failed }, null, 2) + '\n';
  const marker = '"results": [\n    0\n  ]';
  const at = frame.indexOf(marker);
  await w.put(frame.slice(0, at) + '"results": [');
  let first = true;
  for (const r of c.rows) {
    await w.put((first ? '\n    ' : ',\n    ') + indent(JSON.stringify(auto ? { file: r.file, top: r.top, mix: r.mix } : { file: r.file, top: r.top }, null, 2), '    '));
    first = false;
  }
  await w.put((first ? ']' : '\n  ]') + frame.slice(at + marker.length));
}

function csvField(v: string | number): string {
  // A text cell starting like a formula (a file named `=HYPERLINK(...).png`, a label `@cmd`) is
  // run by spreadsheets that open the CSV: prefixed with ' it stays text, as OWASP advises.
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV (RFC 4180; text cells that would start a spreadsheet formula get a leading '), results and
 * failures merged in file order: one row per file, `status` ok or
 * failed, then index, label and score of each of the k best classes, for an auto run the mix
 * chosen (`id=α;id=α`, empty for the clean model), then the failure's code and message.
 */
async function writeCsv(w: ChunkWriter, c: ResultsFileContent): Promise<void> {
  const k = c.topWidth;
  const auto = c.mix === 'auto';
  const head = ['file', 'status'];
  for (let i = 1; i <= k; i++) head.push(`top${i}_index`, `top${i}_label`, `top${i}_score`);
  if (auto) head.push('mix');
  head.push('error_code', 'error_message');
  await w.put(head.map(csvField).join(',') + '\r\n');
  const failed = c.failed;
  let f = 0;
  const failure = async (x: FileFailure) => {
    const row: (string | number)[] = [x.file, 'failed'];
    for (let i = 0; i < k; i++) row.push('', '', '');
    if (auto) row.push('');
    row.push(x.code, x.message);
    await w.put(row.map(csvField).join(',') + '\r\n');
  };
  for (const r of c.rows) {
    // A result comes before a failure of the same name.
    while (f < failed.length && failed[f]!.file < r.file) await failure(failed[f++]!);
    const row: (string | number)[] = [r.file, 'ok'];
    for (let i = 0; i < k; i++) {
      const t = r.top[i];
      row.push(t?.index ?? '', t?.label ?? '', t?.score ?? '');
    }
    if (auto) row.push(r.mix ? Object.entries(r.mix).map(([id, a]) => `${id}=${a}`).join(';') : '');
    row.push('', '');
    await w.put(row.map(csvField).join(',') + '\r\n');
  }
  while (f < failed.length) await failure(failed[f++]!);
}

/** Write a run's results as JSON or CSV, streamed and atomically. */
export function writeResultsFile(file: string, format: 'json' | 'csv', content: ResultsFileContent): Promise<void> {
  return streamAtomic(file, (w) => (format === 'json' ? writeJson(w, content) : writeCsv(w, content)));
}

/** Write the results as JSON and/or CSV, each atomically. */
export async function writeResults(content: ResultsFileContent, out: { json?: string; csv?: string }): Promise<void> {
  if (out.json) await writeResultsFile(out.json, 'json', content);
  if (out.csv) await writeResultsFile(out.csv, 'csv', content);
}
