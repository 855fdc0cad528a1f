import { statSync } from 'node:fs';
import { mkdir, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../core/errors.js';
import type { ConditionMix, FolderFailure, FolderProgress, RunPhase } from '../api/contract.js';
import type { Classifier as FolderClassifier } from '../engine/folder/classifier.js';
import { runFolder, type FolderRunSummary } from '../engine/folder/run.js';
import { walkInputs, type WalkResult } from '../engine/folder/walk.js';
import { modelBatchLimit, packRunIdentity } from '../engine/folder/plan.js';
import { parseJournal, type JournalHeader } from '../engine/folder/journal.js';
import { CrashBudget, isWorkerCrash } from '../core/crash-policy.js';
import type { EventHub } from './events.js';
import type { Classifier, LoadedPack } from './models.js';
import { FolderResultStore } from './folder-result-store.js';
import type { RootGuard } from './root-guard.js';
import { writeResultsFile } from '../engine/folder/results-file.js';
import { readRegularText, type FileError } from '../engine/io/regular-file.js';
import { removeStaleTemps } from '../engine/io/atomic-file.js';
import { packCandidates } from '../engine/auto/choice.js';
import { createChooser } from '../engine/auto/chooser.js';

/** What a folder run was asked to do; kept so it can be resumed. */
export interface FolderJobSpec {
  inputs: string[];
  output: string;
  mix: ConditionMix;
  /** Auto chooses each file's mix (sample, then commit; `mix` is then unused) and the results say which. */
  auto?: boolean;
  top: number;
  copyToClassFolders: boolean;
  batch?: number;
  /** The output holds an earlier run: run in OUTPUT_FILES.replacing inside it, and swap in only when done. */
  replace?: boolean;
}

/**
 * Files a run writes into its output folder; a run that replaces another works in `replacing` (a
 * hidden folder inside it) until it is done, then its files take the old ones' places.
 */
export const OUTPUT_FILES = { journal: 'journal.jsonl', json: 'results.json', csv: 'results.csv', byClass: 'by-class', replacing: '.rws-replacing', replaced: '.rws-replaced' } as const;

/** The files of a run, in the order a replacement swaps them. */
const RUN_FILES = [OUTPUT_FILES.journal, OUTPUT_FILES.json, OUTPUT_FILES.csv, OUTPUT_FILES.byClass];

/** Move `name` from `from` to `to` if it exists. */
async function moveIfThere(from: string, to: string, name: string): Promise<void> {
  try {
    await rename(path.join(from, name), path.join(to, name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** A finished replacement: the old run's files out of `output` (kept aside until the new ones are in), the new ones from `work` in. */
async function swapIn(output: string, work: string): Promise<void> {
  const aside = path.join(output, OUTPUT_FILES.replaced);
  await rm(aside, { recursive: true, force: true });
  await mkdir(aside);
  for (const name of RUN_FILES) await moveIfThere(output, aside, name);
  for (const name of RUN_FILES) await moveIfThere(work, output, name);
  await rm(aside, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}

const RESULT_FLUSH_MS = 150;
/** Engine crashes one folder run survives before it gives up (it can still be resumed by hand). */
const MAX_ENGINE_RESTARTS = 3;

/** What a folder job needs of the engine that runs it (the service's Engine). */
export interface FolderJobHost {
  readonly events: EventHub;
  makePatched(loaded: LoadedPack, ids?: (id: string) => boolean): Promise<Classifier>;
  publishState(): void;
}

/**
 * One folder run of the service: the engine's runFolder with its own patched model (so the camera's
 * mix is untouched), results kept compactly for the UI (FolderResultStore: memory stays small and
 * flat per image) and pushed as events, the journal and the final results.json / results.csv
 * (streamed) in the output folder. Stop and resume go through the journal.
 */
export class FolderJob {
  phase: RunPhase = 'starting';
  private done = 0;
  private failedCount = 0;
  private total: number | null = null;
  private rate = 0;
  private eta: number | null = null;
  private message?: string;
  private resumed = 0;
  skipped: string[] = [];
  /** Special files left out unread (FIFOs, devices, links to them), as rows with the reason. */
  special: FolderFailure[] = [];
  /** Results so far, in file order on reading. */
  results: FolderResultStore;
  readonly failures = new Map<string, FolderFailure>();
  /** Rows of the store before this one have gone out as `result` events. */
  private flushedUpTo = 0;
  private flushTimer?: ReturnType<typeof setTimeout>;
  private controller = new AbortController();
  device = 'cpu';
  /** Settles when the run has ended (done, stopped or failed). */
  finished: Promise<void> = Promise.resolve();

  constructor(
    private readonly engine: FolderJobHost,
    readonly loaded: LoadedPack,
    readonly spec: FolderJobSpec,
  ) {
    this.results = this.newStore();
  }

  private newStore(): FolderResultStore {
    const labels = this.loaded.pack.manifest.labels;
    return new FolderResultStore(Math.max(1, Math.min(this.spec.top, labels.length)), labels, (file) => pathOfResult(this.spec.inputs, file));
  }

  get running(): boolean {
    return this.phase === 'starting' || this.phase === 'running' || this.phase === 'stopping';
  }

  /** Where the run's files are now: its output folder, or, while it replaces another run, the folder it works in. */
  get folder(): string {
    return this.spec.replace && this.phase !== 'done' ? path.join(this.spec.output, OUTPUT_FILES.replacing) : this.spec.output;
  }

  progress(): FolderProgress {
    const p: FolderProgress = {
      kind: 'folder',
      phase: this.phase,
      done: this.done,
      failed: this.failedCount,
      total: this.total,
      rate: this.rate,
      eta: this.eta,
      output: this.spec.output,
    };
    if (this.resumed) p.resumed = this.resumed;
    if (this.message) p.message = this.message;
    return p;
  }

  sortedFailures(): FolderFailure[] {
    return [...this.failures.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  }

  private emitProgress(): void {
    this.engine.events.emit('progress', this.progress());
  }

  /**
   * Send the rows added since the last flush as one `result` event. They are built from the store
   * here, not kept as objects until now: objects held for a flush interval outlive V8's young
   * generation and pile up in the old one until a full GC.
   */
  private flushResults(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.flushedUpTo >= this.results.count) return;
    const batch = this.results.rowsAdded(this.flushedUpTo);
    this.flushedUpTo = this.results.count;
    this.engine.events.emit('result', batch);
  }

  /**
   * Start (or, with `resume`, continue from the journal) in the background; `walk`, a walk of the
   * inputs made just before, saves walking them again.
   */
  start(resume: boolean, walk?: WalkResult): void {
    this.phase = 'starting';
    this.message = undefined;
    this.controller = new AbortController();
    // A resumed run takes every earlier result from the journal again (only files still there).
    this.results = this.newStore();
    this.flushedUpTo = 0;
    this.failures.clear();
    this.emitProgress();
    this.finished = this.run(resume, walk).catch(() => undefined);
  }

  /**
   * The run, and its recovery: when the engine's inference worker dies mid-run, say so, make the
   * model again and continue from the journal (files it holds are not classified again), so the
   * results equal an uninterrupted run's.
   */
  private async run(resume: boolean, walk?: WalkResult): Promise<void> {
    const budget = new CrashBudget({ max: MAX_ENGINE_RESTARTS });
    for (let crashes = 0; ; crashes++) {
      // A restart walks again: the folder may have changed since.
      const crash = await this.attempt(resume || crashes > 0, crashes === 0 ? walk : undefined);
      if (!crash) return;
      if (!budget.record() || this.controller.signal.aborted) {
        this.fail(new RwsError(crash.code, `${crash.message}; the folder run stopped after ${budget.count} engine crashes (resume it from its journal)`), 'engine');
        return;
      }
      this.message = `${crash.message}; the engine was restarted and the run resumes from its journal`;
      this.engine.events.emit('error', { code: crash.code, message: this.message, source: 'engine' });
      this.results = this.newStore();
      this.flushedUpTo = 0;
      this.failures.clear();
      this.phase = 'starting';
      this.emitProgress();
    }
  }

  private fail(e: Error, source: string): void {
    this.flushResults();
    this.phase = 'failed';
    this.message = e.message;
    this.engine.events.emit('error', { code: (e as RwsError).code ?? 'folder-run', message: e.message, source });
    this.emitProgress();
    this.engine.publishState();
  }

  /** One go at the run; returns the error when the inference worker died (the caller restarts). */
  private async attempt(resume: boolean, walk?: WalkResult): Promise<RwsError | undefined> {
    const { engine, loaded, spec } = this;
    let classifier: Classifier | undefined;
    let crash: RwsError | undefined;
    const work = spec.replace ? path.join(spec.output, OUTPUT_FILES.replacing) : spec.output;
    try {
      // A replacement started afresh drops what an earlier, unfinished one left.
      if (spec.replace && !resume) await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      // A kill during an earlier run's final write left its temp files: they go before this run writes.
      for (const dir of new Set([spec.output, work])) for (const f of [OUTPUT_FILES.json, OUTPUT_FILES.csv]) await removeStaleTemps(path.join(dir, f));
      const uses = (id: string) => spec.auto === true || spec.mix[id] !== undefined;
      classifier = await engine.makePatched(loaded, uses);
      await classifier.setMix(spec.auto ? {} : spec.mix);
      const c = classifier;
      this.device = c.device ?? 'cpu';
      const m = loaded.pack.manifest;
      const available = loaded.info.signatures.filter((x) => x.available).map((x) => x.id);
      const chooser = spec.auto ? createChooser('folder', c, packCandidates(m, available), { classes: m.labels.length, kind: m.output.kind }) : undefined;
      const folderClassifier: FolderClassifier = {
        inputSpec: m.input,
        labels: m.labels,
        outputKind: m.output.kind,
        device: this.device,
        fallback: c.fallback,
        maxBatch: await modelBatchLimit(loaded.pack.modelPath),
        run: (input, dims) => c.run(input, dims),
        ...(chooser
          ? {
              runWithMixes: async (input: Float32Array, dims: number[], files?: readonly string[]) => {
                const r = await chooser.run(input, dims, undefined, files);
                return { scores: r.scores, mixes: r.choices.map((x) => x.mix), blends: r.choices.map((x) => x.blend?.mix) };
              },
              ...(chooser.plan ? { planAuto: (files, decode, batch) => chooser.plan!({ files, decode, batch }) } : {}),
            }
          : {}),
        dispose: async () => {},
      };
      this.phase = 'running';
      this.emitProgress();
      const summary: FolderRunSummary = await runFolder({
        inputs: spec.inputs,
        walk,
        classifier: folderClassifier,
        pack: m.id,
        model: await packRunIdentity(loaded.pack, uses),
        mix: spec.auto ? 'auto' : spec.mix,
        top: spec.top,
        batch: spec.batch,
        journal: path.join(work, OUTPUT_FILES.journal),
        resume,
        copyTo: spec.copyToClassFolders ? path.join(work, OUTPUT_FILES.byClass) : undefined,
        signal: this.controller.signal,
        keepResults: false,
        onProgress: (p) => {
          this.done = p.done;
          this.failedCount = p.failed;
          this.total = p.total;
          this.rate = p.rate;
          this.eta = p.eta ?? null;
          this.resumed = p.resumed;
          this.emitProgress();
        },
        onResumed: (r) => {
          // Earlier results are not sent as events (they all come before the new ones).
          this.results.add(r.file, r.top, undefined, spec.auto ? r.mix : undefined, r.blend);
          this.flushedUpTo = this.results.count;
        },
        onResult: (r, file) => {
          this.results.add(r.file, r.top, file.path, spec.auto ? r.mix : undefined, r.blend);
          this.flushTimer ??= setTimeout(() => this.flushResults(), RESULT_FLUSH_MS);
        },
        onFailure: (f) => {
          const row: FolderFailure = { file: f.file, code: f.code, message: f.message };
          if (f.path) row.path = f.path;
          this.failures.set(f.file, row);
        },
      });
      this.flushResults();
      this.skipped = summary.skipped;
      this.special = summary.special.map((x) => ({ file: x.file, code: 'not-regular-file', message: `${x.file}: ${x.reason}` }));
      this.done = this.results.count;
      this.failedCount = summary.failed.length;
      this.eta = summary.stopped ? null : 0;
      await this.writeOutputs(path.join(work, OUTPUT_FILES.json), 'json');
      await this.writeOutputs(path.join(work, OUTPUT_FILES.csv), 'csv');
      if (spec.replace && !summary.stopped) await swapIn(spec.output, work);
      this.phase = summary.stopped ? 'stopped' : 'done';
      if (summary.fallback) this.message = summary.fallback;
    } catch (e) {
      const code = (e as RwsError).code;
      if (isWorkerCrash(e)) {
        this.flushResults();
        crash = e as RwsError;
      } else {
        this.flushResults();
        this.phase = 'failed';
        this.message = (e as Error).message;
        engine.events.emit('error', { code: code ?? 'folder-run', message: (e as Error).message, source: 'folderRun' });
      }
    } finally {
      await Promise.resolve(classifier?.dispose()).catch(() => undefined);
      if (!crash) {
        this.emitProgress();
        engine.publishState();
      }
    }
    return crash;
  }

  /** Write the results so far as JSON or CSV (the `rws run` format), streamed and atomically. */
  async writeOutputs(file: string, format: 'json' | 'csv'): Promise<{ results: number; failed: number }> {
    const { count, rows } = this.results.sorted();
    const failed = this.sortedFailures();
    await writeResultsFile(file, format, { pack: this.loaded.pack.manifest.id, mix: this.spec.auto ? 'auto' : this.spec.mix, device: this.device, rows, topWidth: this.results.topWidth, failed });
    return { results: count, failed: failed.length };
  }

  /** Ask the run to stop after the batch in hand; resolves once it has. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.phase = 'stopping';
    this.emitProgress();
    this.controller.abort();
    await this.finished;
  }
}

/** Where a result's file is: `rel` is relative to its input, prefixed by the input's name when there are several. */
export function pathOfResult(inputs: string[], rel: string): string {
  const parts = rel.split('/');
  if (inputs.length === 1) {
    const only = inputs[0]!;
    return parts.length === 1 && path.basename(only) === rel ? only : path.join(only, ...parts);
  }
  const input = inputs.find((i) => path.basename(i) === parts[0]);
  if (!input) return rel;
  return parts.length === 1 ? input : path.join(input, ...parts.slice(1));
}

/**
 * Refuse a run whose folders reach, through symbolic links, outside the roots the server may read;
 * the walk it checked, for the run to use (undefined when this service has no roots).
 */
export async function assertWalkInsideRoots(engine: { guard: RootGuard | null }, inputs: string[]): Promise<WalkResult | undefined> {
  if (!engine.guard) return undefined;
  const walk = await walkInputs(inputs);
  for (const f of walk.files) {
    const real = await realpath(f.path).catch(() => f.path);
    if (!engine.guard.contains(real)) {
      throw new RwsError('outside-roots', `${f.path}: links to ${real}, outside the folders this server may use`, { file: f.path, field: 'inputs' });
    }
  }
  return walk;
}

/**
 * True when `output` holds a run's files (finished or not), or an unfinished replacement of one.
 * Only regular files count: a FIFO where the journal goes is no run, and the run refuses it when it writes.
 */
export function holdsRun(output: string): boolean {
  return [OUTPUT_FILES.journal, OUTPUT_FILES.json, OUTPUT_FILES.csv, path.join(OUTPUT_FILES.replacing, OUTPUT_FILES.journal)].some((f) => isRegularFile(path.join(output, f)));
}

function isRegularFile(file: string): boolean {
  return statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}

/**
 * The spec of an earlier run, from the journal in its output folder (to resume after a restart);
 * an unfinished replacement of a run there is the one resumed.
 */
export async function specFromJournal(output: string): Promise<Omit<FolderJobSpec, 'copyToClassFolders' | 'batch'> & { header: JournalHeader; folder: string }> {
  const staged = path.join(output, OUTPUT_FILES.replacing);
  const replace = isRegularFile(path.join(staged, OUTPUT_FILES.journal));
  const folder = replace ? staged : output;
  const file = path.join(folder, OUTPUT_FILES.journal);
  let text: string;
  try {
    text = await readRegularText(file, { what: 'the journal', code: 'no-journal', field: 'output' });
  } catch (e) {
    if ((e as FileError).errno !== 'ENOENT') throw e;
    throw new RwsError('no-journal', `${file}: no journal of an earlier run in this folder`, { file, field: 'output' });
  }
  const header = parseJournal(text).header;
  if (!header) throw new RwsError('no-journal', `${file}: the journal has no usable header`, { file, field: 'output' });
  const auto = header.mix === 'auto';
  return { inputs: header.inputs, output, mix: auto ? {} : (header.mix as ConditionMix), ...(auto ? { auto } : {}), ...(replace ? { replace } : {}), top: header.top, header, folder };
}

