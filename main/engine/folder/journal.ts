import { constants } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { RwsError } from '../../core/errors.js';
import { mixKey } from '../../core/mix.js';
import { checkOpened, errnoText, readRegularText, type ReadWhat } from '../io/regular-file.js';
import type { ConditionMix } from '../../core/signature.js';
import type { TopClass } from '../../core/tensors.js';
import { shardText, type Listing, type Shard } from './shard.js';

export type { TopClass };

/** What a folder run found for one file (`file` relative to its input, `/`-separated). */
export interface FileResult {
  file: string;
  top: TopClass[];
  mix: ConditionMix;
  /** An Auto hedge: the second mix the file also ran under, its probabilities averaged with `mix`'s. */
  blend?: ConditionMix;
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
  /** `rws run --shard`: the shard this run is (absent: the whole input, as shard 1/1). */
  shard?: Shard;
}

/**
 * The record a run appends when it has been through every file of its shard: a journal without one
 * (or with results after it) is of a run that was killed or stopped.
 */
export interface JournalCompletion {
  device: string;
  /** The whole input's listing, all shards' files together. */
  listing: Listing;
}

/** One line of a journal, as `journalRecord` reads it. */
export type JournalRecord =
  | { kind: 'header'; header: JournalHeader }
  | { kind: 'result'; result: FileResult }
  | { kind: 'failure'; failure: FileFailure }
  | { kind: 'complete'; complete: JournalCompletion };

/** What one journal line is; undefined for a line that is not a record (never written by us). */
export function journalRecord(line: string): JournalRecord | undefined {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (!rec || typeof rec !== 'object') return undefined;
  if (rec.journal === 'rws-run/1') return { kind: 'header', header: rec as unknown as JournalHeader };
  if (typeof rec.file === 'string' && Array.isArray(rec.top)) return { kind: 'result', result: rec as unknown as FileResult };
  if (typeof rec.file === 'string' && rec.failed && typeof rec.failed === 'object') {
    const f = rec.failed as { code: string; message: string };
    return { kind: 'failure', failure: { file: rec.file, code: f.code, message: f.message } };
  }
  const c = rec.complete as JournalCompletion | undefined;
  if (c && typeof c === 'object' && typeof c.device === 'string' && c.listing && typeof c.listing.sha256 === 'string') return { kind: 'complete', complete: c };
  return undefined;
}

/** The journal's content: the latest line per file wins (a retried failure may later succeed). */
export interface JournalContent {
  header?: JournalHeader;
  results: Map<string, FileResult>;
  failures: Map<string, FileFailure>;
  /** Set when the run finished its shard and nothing was recorded after. */
  complete?: JournalCompletion;
  /** Byte length of the whole lines; anything after it is a line torn by a kill. */
  validBytes: number;
}

/** Read a journal's text, ignoring a torn last line and any line that is not a record. */
export function parseJournal(text: string): JournalContent {
  const results = new Map<string, FileResult>();
  const failures = new Map<string, FileFailure>();
  let header: JournalHeader | undefined;
  let complete: JournalCompletion | undefined;
  const end = text.lastIndexOf('\n') + 1;
  for (const line of text.slice(0, end).split('\n')) {
    if (!line) continue;
    const rec = journalRecord(line);
    if (!rec) continue;
    if (rec.kind === 'header') header ??= rec.header;
    else if (rec.kind === 'complete') complete = rec.complete;
    else if (rec.kind === 'result') {
      results.set(rec.result.file, rec.result);
      failures.delete(rec.result.file);
      complete = undefined;
    } else {
      failures.set(rec.failure.file, rec.failure);
      results.delete(rec.failure.file);
      complete = undefined;
    }
  }
  return { header, results, failures, complete, validBytes: Buffer.byteLength(text.slice(0, end)) };
}

/** The mix as a run records it, for messages. */
export function mixText(mix: ConditionMix | 'auto'): string {
  return mix === 'auto' ? 'auto' : mixKey(mix);
}

/** A difference between two runs: what differs, and its value in each. */
export interface RunDifference {
  what: string;
  theirs: string;
  ours: string;
}

const WHOLE: Shard = { index: 1, count: 1 };

/**
 * The first way run `theirs` differs from run `ours` (undefined when they are the same run):
 * inputs (when `inputs`), pack, model and signatures, mix, `--top`, and the shard (`shard`:
 * `exact` when the index must match, `count` when only N must).
 */
export function runDifference(theirs: JournalHeader, ours: JournalHeader, opts: { inputs: boolean; shard: 'exact' | 'count' }): RunDifference | undefined {
  const d = (what: string, a: string, b: string) => (a === b ? undefined : { what, theirs: a, ours: b });
  const exactMix = (m: JournalHeader['mix']) => (m === 'auto' ? 'auto' : JSON.stringify(Object.entries(m).sort()));
  const mixDiff = exactMix(theirs.mix) === exactMix(ours.mix) ? undefined : { what: 'mix', theirs: mixText(theirs.mix), ours: mixText(ours.mix) };
  const a = theirs.shard ?? WHOLE;
  const b = ours.shard ?? WHOLE;
  return (
    (opts.inputs ? d('inputs', theirs.inputs.join(', '), ours.inputs.join(', ')) : undefined) ??
    d('pack', theirs.pack, ours.pack) ??
    d('model and signatures', theirs.model, ours.model) ??
    mixDiff ??
    d('--top', String(theirs.top), String(ours.top)) ??
    d('number of shards', String(a.count), String(b.count)) ??
    (opts.shard === 'exact' ? d('shard', shardText(a), shardText(b)) : undefined)
  );
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
        const d = runDifference(previous.header, header, { inputs: true, shard: 'exact' });
        if (d) {
          throw new RwsError('resume-mismatch', `${file}: this journal belongs to another run (its ${d.what} is ${d.theirs}, this run's ${d.ours}); use another --journal or remove it`, { file, field: d.what });
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
      ...results.map((r) => ({ file: r.file, top: r.top, mix: r.mix, ...(r.blend ? { blend: r.blend } : {}), device: r.device })),
      ...failures.map((f) => ({ file: f.file, failed: { code: f.code, message: f.message } })),
    ];
    if (lines.length === 0) return this.chain;
    return this.write(lines);
  }

  /** Record that the run has been through every file of its shard (the last line of a finished run). */
  complete(completion: JournalCompletion): Promise<void> {
    return this.write([{ complete: completion }]);
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
