import { constants } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { RwsError } from '../../core/errors.js';
import { checkOpened, errnoText, readRegularText, type ReadWhat } from '../io/regular-file.js';
import type { ConditionMix } from '../../core/signature.js';

import type { TopClass } from '../../core/tensors.js';

export type { TopClass };

/** What a folder run found for one file (`file` relative to its input, `/`-separated). */
export interface FileResult {
  file: string;
  top: TopClass[];
  mix: ConditionMix;
  device: string;
}

/** A file that could not be classified, and why. */
export interface FileFailure {
  file: string;
  code: string;
  message: string;
  /** Where the file is (not journaled nor exported; for callers that show it). */
  path?: string;
}

/** What a run is: a journal is resumed only by a run with the same identity. */
export interface JournalHeader {
  journal: 'rws-run/1';
  /** Absolute paths of the inputs, in the order given. */
  inputs: string[];
  pack: string;
  /** Identifies the model (pack id and version, or the model file's SHA-256). */
  model: string;
  mix: ConditionMix | 'auto';
  top: number;
}

/** The journal's content: the latest line per file wins (a retried failure may later succeed). */
export interface JournalContent {
  header?: JournalHeader;
  results: Map<string, FileResult>;
  failures: Map<string, FileFailure>;
  /** Byte length of the whole lines; anything after it is a line torn by a kill. */
  validBytes: number;
}

/** Read a journal's text, ignoring a torn last line and any line that is not a record. */
export function parseJournal(text: string): JournalContent {
  const results = new Map<string, FileResult>();
  const failures = new Map<string, FileFailure>();
  let header: JournalHeader | undefined;
  const end = text.lastIndexOf('\n') + 1;
  for (const line of text.slice(0, end).split('\n')) {
    if (!line) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (rec.journal === 'rws-run/1') header ??= rec as unknown as JournalHeader;
    else if (typeof rec.file === 'string' && Array.isArray(rec.top)) {
      results.set(rec.file, rec as unknown as FileResult);
      failures.delete(rec.file);
    } else if (typeof rec.file === 'string' && rec.failed && typeof rec.failed === 'object') {
      const f = rec.failed as { code: string; message: string };
      failures.set(rec.file, { file: rec.file, code: f.code, message: f.message });
      results.delete(rec.file);
    }
  }
  return { header, results, failures, validBytes: Buffer.byteLength(text.slice(0, end)) };
}

function sameIdentity(a: JournalHeader, b: JournalHeader): string | undefined {
  if (JSON.stringify(a.inputs) !== JSON.stringify(b.inputs)) return `inputs ${a.inputs.join(', ')}`;
  if (a.pack !== b.pack) return `pack "${a.pack}"`;
  if (a.model !== b.model) return `model ${a.model}`;
  const mix = (m: JournalHeader['mix']) => (m === 'auto' ? 'auto' : JSON.stringify(Object.entries(m).sort()));
  if (mix(a.mix) !== mix(b.mix)) return `mix ${mix(a.mix)}`;
  if (a.top !== b.top) return `--top ${a.top}`;
  return undefined;
}

const JOURNAL: ReadWhat = { what: 'the journal', code: 'journal' };

/** How often the journal is forced to disk: a kill loses nothing written (the kernel has it); this bounds what a power cut can. */
const SYNC_EVERY_MS = 500;

/**
 * Results appended as JSON lines while a folder run goes; `fsync`ed at most every 500 ms and on
 * close. Opening with `resume` keeps what an earlier run with the same identity recorded.
 */
export class RunJournal {
  private chain: Promise<void> = Promise.resolve();
  private lastSync = Date.now();
  private unsynced = false;

  private constructor(
    readonly file: string,
    private readonly fh: FileHandle,
  ) {}

  /**
   * Open (or create) the journal. Without `resume` an existing non-empty journal is refused, so a
   * run never silently discards another's results; with it, the header must match this run's.
   * Returns the results already recorded (empty for a new journal).
   */
  static async open(file: string, header: JournalHeader, opts: { resume: boolean }): Promise<{ journal: RunJournal; previous: JournalContent }> {
    let previous: JournalContent = { results: new Map(), failures: new Map(), validBytes: 0 };
    let size = 0;
    try {
      size = (await stat(file)).size;
    } catch {
      size = 0;
    }
    if (size > 0) {
      previous = parseJournal(await readRegularText(file, JOURNAL));
      if (!opts.resume && (previous.header || previous.results.size > 0)) {
        throw new RwsError('usage-journal-exists', `${file}: a journal of an earlier run is here: add --resume to continue it, or remove the file to start again`, { file });
      }
      if (opts.resume && previous.header) {
        const differs = sameIdentity(previous.header, header);
        if (differs) {
          throw new RwsError('resume-mismatch', `${file}: this journal belongs to another run (its ${differs} differs from this run's); use another --journal or remove it`, { file });
        }
      }
      // A kill can leave half a line; appending after it would glue the next record to it.
      if (previous.validBytes < size) await truncate(file, previous.validBytes);
    }
    // Never blocking on a FIFO put in its place: opened non-blocking, then checked to be a file.
    let fh: FileHandle;
    try {
      fh = await open(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NONBLOCK ?? 0), 0o666);
    } catch (e) {
      throw new RwsError('journal', `${file}: cannot write the journal (${errnoText(e)})`, { file });
    }
    try {
      checkOpened(file, await fh.stat(), JOURNAL);
    } catch (e) {
      await fh.close();
      throw e;
    }
    const journal = new RunJournal(file, fh);
    if (!previous.header) {
      previous = { ...previous, results: new Map(), failures: new Map() };
      if (size > 0) await truncate(file, 0);
      await journal.write([header]);
    }
    return { journal, previous };
  }

  /** Append results and failures (one write), syncing when the last sync is old enough. */
  append(results: FileResult[], failures: FileFailure[] = []): Promise<void> {
    const lines: unknown[] = [
      ...results.map((r) => ({ file: r.file, top: r.top, mix: r.mix, device: r.device })),
      ...failures.map((f) => ({ file: f.file, failed: { code: f.code, message: f.message } })),
    ];
    if (lines.length === 0) return this.chain;
    return this.write(lines);
  }

  private write(records: unknown[]): Promise<void> {
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    this.chain = this.chain.then(async () => {
      await this.fh.write(text);
      this.unsynced = true;
      if (Date.now() - this.lastSync >= SYNC_EVERY_MS) await this.sync();
    });
    return this.chain;
  }

  private async sync(): Promise<void> {
    if (!this.unsynced) return;
    await this.fh.datasync();
    this.unsynced = false;
    this.lastSync = Date.now();
  }

  /** Sync and close; call once, at the end of the run (also after a stop). */
  async close(): Promise<void> {
    await this.chain;
    await this.sync();
    await this.fh.close();
  }
}
