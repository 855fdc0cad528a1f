import type { FileHandle } from 'node:fs/promises';
import type { ConditionMix, FolderFailure, Prediction } from '../api/contract.js';
import { writeFileAtomicWith } from '../engine/io/atomic-file.js';

/** What a results file holds: `rows` and `failed` each sorted by file. */
export interface ResultsFileContent {
  pack: string;
  mix: ConditionMix;
  device: string;
  rows: Iterable<{ file: string; top: Prediction[] }>;
  /** Most classes a row has (the CSV's columns). */
  topWidth: number;
  failed: readonly FolderFailure[];
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

/**
 * Byte for byte what `reportJson(buildReport(...))` (engine/results-export.ts) gives for a fixed
 * mix, written a row at a time so a 50,000-image run never builds the whole text.
 */
async function writeJson(w: ChunkWriter, c: ResultsFileContent): Promise<void> {
  const failed = c.failed.map((f) => ({ file: f.file, code: f.code, message: f.message }));
  // The frame around the rows, from JSON.stringify itself; JSON text has no raw newline inside a
  // string, so this marker can only match the results array.
  const frame = JSON.stringify({ pack: c.pack, mix: c.mix, device: c.device, results: [0], failed }, null, 2) + '\n';
  const marker = '"results": [\n    0\n  ]';
  const at = frame.indexOf(marker);
  await w.put(frame.slice(0, at) + '"results": [');
  let first = true;
  for (const r of c.rows) {
    await w.put((first ? '\n    ' : ',\n    ') + indent(JSON.stringify({ file: r.file, top: r.top }, null, 2), '    '));
    first = false;
  }
  await w.put((first ? ']' : '\n  ]') + frame.slice(at + marker.length));
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Byte for byte what `reportCsv` gives for a fixed mix: results and failures merged in file order. */
async function writeCsv(w: ChunkWriter, c: ResultsFileContent): Promise<void> {
  const k = c.topWidth;
  const head = ['file', 'status'];
  for (let i = 1; i <= k; i++) head.push(`top${i}_index`, `top${i}_label`, `top${i}_score`);
  head.push('error_code', 'error_message');
  await w.put(head.map(csvField).join(',') + '\r\n');
  const failed = c.failed;
  let f = 0;
  const failure = async (x: FolderFailure) => {
    const row: (string | number)[] = [x.file, 'failed'];
    for (let i = 0; i < k; i++) row.push('', '', '');
    row.push(x.code, x.message);
    await w.put(row.map(csvField).join(',') + '\r\n');
  };
  for (const r of c.rows) {
    // reportCsv sorts results before failures of the same name (a stable sort of results, failed).
    while (f < failed.length && failed[f]!.file < r.file) await failure(failed[f++]!);
    const row: (string | number)[] = [r.file, 'ok'];
    for (let i = 0; i < k; i++) {
      const t = r.top[i];
      row.push(t?.index ?? '', t?.label ?? '', t?.score ?? '');
    }
    row.push('', '');
    await w.put(row.map(csvField).join(',') + '\r\n');
  }
  while (f < failed.length) await failure(failed[f++]!);
}

/** Write a run's results as `rws run` does (JSON or CSV, DESIGN.md's format), streamed and atomically. */
export function writeResultsFile(file: string, format: 'json' | 'csv', content: ResultsFileContent): Promise<void> {
  return streamAtomic(file, (w) => (format === 'json' ? writeJson(w, content) : writeCsv(w, content)));
}
