import { randomUUID } from 'node:crypto';
import { copyFile, link, mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { classFolderNames } from '../../core/class-folders.js';
import type { ConditionMix } from '../../core/signature.js';
import type { Classifier } from './classifier.js';
import { walkInputs, type WalkFile, type WalkResult } from './walk.js';
import { decodeImage } from '../io/image-decode.js';
import type { InputSpec } from '../packs/pack.js';
import { batchDims, topClasses } from '../../core/tensors.js';
import { RunJournal, type FileFailure, type FileResult, type JournalHeader } from './journal.js';
import { inShard, listingOf, type Listing, type Shard } from './shard.js';

/** How far a folder run is: files done (resumed ones included), failed, total, images per second and seconds left. */
export interface FolderProgress {
  done: number;
  failed: number;
  total: number;
  /** Images per second over this run's own work (resumed files excluded). */
  rate: number;
  /** Seconds left at the current rate; undefined before the first batch. */
  eta: number | undefined;
  /** Files taken from the journal of an earlier run. */
  resumed: number;
}

export interface FolderRunOptions {
  /** Files and folders to classify. */
  inputs: string[];
  /** A walk of `inputs` made just before (to check where they lead), used instead of walking them again. */
  walk?: WalkResult;
  classifier: Classifier;
  /** Pack id (or the model's file name without a pack), as written in the results. */
  pack: string;
  /** Identifies the model for resuming (pack id and version, or the model file's hash). */
  model: string;
  /** `auto`: the classifier's `runWithMixes` says each image's mix. */
  mix: ConditionMix | 'auto';
  /** Number of best classes kept per image (default 5, at most the number of classes). */
  top?: number;
  /** Images per inference; default chosen by `chooseBatch` for the classifier's device. */
  batch?: number;
  /** Decodes in flight at once (default: scaled with the batch). */
  decoders?: number;
  maxPixels?: number;
  /** JSONL journal; without it nothing is written until the caller exports. */
  journal?: string;
  resume?: boolean;
  /** Copy (never move) each classified image into `<copyTo>/<top-1 label>/`. */
  copyTo?: string;
  /** Classify only the files of this shard (`rws run --shard`); the journal records which shard it is. */
  shard?: Shard;
  signal?: AbortSignal;
  onProgress?: (p: FolderProgress) => void;
  /** Each result as it comes, with the file it is about (its absolute path). */
  onResult?: (r: FileResult, file: WalkFile) => void;
  onFailure?: (f: FileFailure) => void;
  /**
   * false: keep no results in memory, so it stays flat whatever the folder size; the summary's
   * `results` is then empty and the caller keeps what it needs from `onResult` and `onResumed`.
   */
  keepResults?: boolean;
  /** Each result taken from the journal of an earlier run (files still there), before any new one. */
  onResumed?: (r: FileResult) => void;
}

/** The end of a folder run: results and failures sorted by file, and whether it was stopped early. */
export interface FolderRunSummary {
  results: FileResult[];
  failed: FileFailure[];
  /** Files inside folders that are not images, and folder links that loop. */
  skipped: string[];
  /** Special files (FIFOs, devices, links to them) left out unread, with the reason. */
  special: { file: string; reason: string }[];
  stopped: boolean;
  resumed: number;
  /** The whole input's listing (all shards'), which every shard of one run shares. */
  listing: Listing;
  /** Classes kept per image (`top`, at most the number of classes). */
  top: number;
  device: string;
  fallback?: string;
  batch: number;
  /** Wall time of the run, walk included. */
  seconds: number;
}

const GPU_DEVICES = new Set(['cuda', 'dml', 'coreml', 'webgpu', 'tensorrt']);
/** Largest batch tensor we build: bounds memory whatever the model's input size. */
const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/**
 * Images per inference for a device: 32 on the CPU (per-call overhead is gone by then and
 * latency stays low), 128 on a GPU (launch and transfer costs want more), never a batch tensor
 * over 64 MB nor more than the model accepts.
 */
export function chooseBatch(device: string, spec: InputSpec, maxBatch = Infinity): number {
  const base = GPU_DEVICES.has(device) ? 128 : 32;
  const perImage = spec.channels * spec.width * spec.height * 4;
  return Math.max(1, Math.min(base, Math.floor(MAX_BATCH_BYTES / perImage), maxBatch));
}

/** Decoded images in flight at most, in bytes: large inputs get fewer decoders. */
const MAX_DECODING_BYTES = 256 * 1024 * 1024;

/**
 * Decodes kept in flight: enough queued on sharp's threads to cover one batch's inference even
 * when inference blocks this thread, few enough that memory stays small (with `spec`, their
 * tensors together stay under 256 MiB).
 */
export function defaultDecoders(batch: number, spec?: InputSpec): number {
  const byMemory = spec ? Math.floor(MAX_DECODING_BYTES / (spec.channels * spec.width * spec.height * 4)) : Infinity;
  return Math.max(1, Math.min(64, Math.max(8, batch), byMemory));
}

async function sameBytes(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  if (sa.size !== sb.size) return false;
  const [ba, bb] = await Promise.all([readFile(a), readFile(b)]);
  return ba.equals(bb);
}

/**
 * Copy `src` into `dir` under its own name, or `name (2).ext`... when another file has it. A copy
 * with the same bytes counts as done, so a resumed run does not copy a file twice.
 */
async function copyInto(src: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ext = path.extname(src);
  const stem = path.basename(src, ext);
  for (let n = 1; ; n++) {
    const dest = path.join(dir, n === 1 ? `${stem}${ext}` : `${stem} (${n})${ext}`);
    try {
      if (await sameBytes(src, dest)) return;
      continue;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    // Copy beside, then link under the final name: a kill never leaves half an image there, and a
    // name another shard (or machine) took meanwhile is never overwritten: the link fails and the
    // next name is tried. The temp name is unique across machines sharing the folder.
    const tmp = path.join(dir, `.${stem}.${randomUUID()}.copy.tmp`);
    await copyFile(src, tmp);
    try {
      if (await placeCopy(tmp, dest)) return;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    n--; // taken meanwhile: look at that file again (it may be this very image)
  }
}

/** Give the copy `tmp` the name `dest` unless that name exists; false when it does. */
async function placeCopy(tmp: string, dest: string): Promise<boolean> {
  try {
    await link(tmp, dest);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // Filesystems without hard links (FAT, some network shares): the rename can race another writer.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      await rename(tmp, dest);
      return true;
    }
    throw e;
  }
}

interface Decoded {
  file: WalkFile;
  tensor: Float32Array;
}

/**
 * Classify every image under the inputs: decoding (sharp, on its own threads) overlaps batched
 * inference, with bounded queues so memory stays flat whatever the folder size. Results go to the
 * journal as they come; a stop (the signal) finishes the batch in hand and returns `stopped`.
 * Files that fail are reported and the run goes on. The user's files are only read.
 */
export async function runFolder(opts: FolderRunOptions): Promise<FolderRunSummary> {
  const started = performance.now();
  const { classifier } = opts;
  const spec = classifier.inputSpec;
  const top = Math.max(1, Math.min(opts.top ?? 5, classifier.labels.length));
  const whole = opts.walk ?? (await walkInputs(opts.inputs, { signal: opts.signal }));
  const listing = listingOf([...whole.files.map((f) => f.rel), ...whole.problems.map((p) => p.rel)]);
  const shard = opts.shard;
  const walk: WalkResult =
    shard && shard.count > 1
      ? {
          ...whole,
          files: whole.files.filter((f) => inShard(f.key, shard)),
          problems: whole.problems.filter((p) => inShard(p.key, shard)),
          special: whole.special.filter((x) => inShard(x.key, shard)),
        }
      : whole;

  const keep = opts.keepResults ?? true;
  const results = new Map<string, FileResult>();
  // Files the journal of an earlier run already holds; empty unless resuming.
  const doneBefore = new Set<string>();
  const failures = new Map<string, FileFailure>();
  let journal: RunJournal | undefined;
  if (opts.journal) {
    const header: JournalHeader = {
      journal: 'rws-run/1',
      inputs: opts.inputs.map((i) => path.resolve(i)),
      pack: opts.pack,
      model: opts.model,
      mix: opts.mix,
      top,
      ...(shard ? { shard: { index: shard.index, count: shard.count } } : {}),
    };
    const opened = await RunJournal.open(opts.journal, header, { resume: opts.resume ?? false });
    journal = opened.journal;
    const present = new Set(walk.files.map((f) => f.rel));
    // Only files still there count: the final files must equal a fresh run's on today's folder.
    for (const [file, r] of opened.previous.results) {
      if (!present.has(file)) continue;
      doneBefore.add(file);
      if (keep) results.set(file, r);
      opts.onResumed?.(r);
    }
  }
  const resumed = doneBefore.size;
  /** Files done, resumed ones included. */
  let doneCount = resumed;
  const todo = resumed ? walk.files.filter((f) => !doneBefore.has(f.rel)) : walk.files;
  doneBefore.clear();
  const total = walk.files.length + walk.problems.length;
  const batch = Math.max(1, Math.min(opts.batch ?? chooseBatch(classifier.device, spec, classifier.maxBatch), classifier.maxBatch));
  const decoders = Math.max(1, opts.decoders ?? defaultDecoders(batch, spec));
  const queueLimit = 2 * batch;
  classifier.planAuto?.(whole.files, (f) => decodeImage(f.path, spec, { maxPixels: opts.maxPixels, name: f.rel }).catch(() => undefined), batch);

  let pendingFailures: FileFailure[] = [];
  const fail = (f: FileFailure) => {
    failures.set(f.file, f);
    pendingFailures.push(f);
    opts.onFailure?.(f);
  };
  for (const p of walk.problems) fail({ file: p.rel, code: p.code, message: p.message, path: p.path });

  let stopped = opts.signal?.aborted ?? false;
  const onAbort = () => {
    stopped = true;
    wakeUp();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  let fatal: unknown;
  let newDone = 0;
  let lastProgress = 0;
  const progress = (force = false) => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < 200) return;
    lastProgress = now;
    const secs = (now - started) / 1000;
    const rate = secs > 0 ? newDone / secs : 0;
    const left = total - doneCount - failures.size;
    opts.onProgress({ done: doneCount, failed: failures.size, total, rate, eta: rate > 0 ? left / rate : undefined, resumed });
  };

  // Decoding: up to `decoders` files in flight, and no more decoded images waiting than `queueLimit`.
  const ready: Decoded[] = [];
  let next = 0;
  let inflight = 0;
  let wake: (() => void) | undefined;
  function wakeUp() {
    const w = wake;
    wake = undefined;
    w?.();
  }
  function pump() {
    while (!stopped && next < todo.length && inflight < decoders && ready.length + inflight < queueLimit + decoders) {
      const file = todo[next++]!;
      inflight++;
      decodeImage(file.path, spec, { maxPixels: opts.maxPixels, name: file.rel })
        .then(
          (tensor) => void ready.push({ file, tensor }),
          (e) => {
            if (e instanceof RwsError) fail({ file: file.rel, code: e.code, message: e.message, path: file.path });
            else fail({ file: file.rel, code: 'unreadable', message: `${file.rel}: ${(e as Error).message ?? e}`, path: file.path });
          },
        )
        .finally(() => {
          inflight--;
          pump();
          wakeUp();
        });
    }
  }

  // Copies and journal lines follow inference in order, without holding it up.
  let after: Promise<void> = Promise.resolve();
  let afterQueued = 0;
  const record = (done: { file: WalkFile; result: FileResult }[], failed: FileFailure[]) => {
    afterQueued++;
    after = after
      .then(async () => {
        if (fatal) return;
        if (opts.copyTo) {
          for (const d of done) {
            const best = d.result.top[0]!;
            await copyInto(d.file.path, path.join(opts.copyTo, classFolderNames(classifier.labels)[best.index]!));
          }
        }
        await journal?.append(done.map((d) => d.result), failed);
      })
      .catch((e) => {
        fatal ??= e;
        stopped = true;
      })
      .finally(() => {
        afterQueued--;
        wakeUp();
      });
  };

  const classes = classifier.labels.length;
  const perImage = spec.channels * spec.width * spec.height;
  const dimsOf = (n: number) => batchDims(spec, n);
  progress(true);
  pump();
  try {
    for (;;) {
      if (stopped) break;
      const allDecoded = next >= todo.length && inflight === 0;
      if (ready.length >= batch || (allDecoded && ready.length > 0)) {
        const items = ready.splice(0, batch);
        pump();
        const input = new Float32Array(items.length * perImage);
        items.forEach((d, i) => input.set(d.tensor, i * perImage));
        const ran = classifier.runWithMixes
          ? await classifier.runWithMixes(input, dimsOf(items.length), items.map((d) => d.file.rel))
          : { scores: await classifier.run(input, dimsOf(items.length)) };
        const scores = ran.scores;
        const cols = scores.length / items.length;
        if (cols !== classes) throw new RwsError('model-output', `the model gave ${cols} scores per image, but the labels name ${classes} classes`, { field: 'labels' });
        const done: { file: WalkFile; result: FileResult }[] = [];
        items.forEach((d, i) => {
          let best;
          try {
            best = topClasses(scores.subarray(i * cols, (i + 1) * cols), classifier.labels, top, classifier.outputKind);
          } catch (e) {
            if (!(e instanceof RwsError)) throw e;
            // Scores of NaN are a failure of this file, with the cause, never a result.
            fail({ file: d.file.rel, code: e.code, message: `${d.file.rel}: ${e.message}`, path: d.file.path });
            return;
          }
          const result: FileResult = {
            file: d.file.rel,
            top: best,
            mix: ('mixes' in ran ? ran.mixes[i] : undefined) ?? (opts.mix === 'auto' ? {} : opts.mix),
            device: classifier.device,
          };
          const blend = 'blends' in ran ? ran.blends?.[i] : undefined;
          if (blend) result.blend = blend;
          doneCount++;
          if (keep) results.set(result.file, result);
          opts.onResult?.(result, d.file);
          done.push({ file: d.file, result });
        });
        newDone += done.length;
        record(done, pendingFailures);
        pendingFailures = [];
        progress();
        // Bound the copy/journal backlog too: two batches behind at most.
        while (afterQueued > 2 && !fatal) await new Promise<void>((r) => (wake = r));
        continue;
      }
      if (allDecoded) break;
      await new Promise<void>((r) => (wake = r));
    }
  } catch (e) {
    fatal ??= e;
    stopped = true;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    // Let decodes in flight settle so nothing of ours still reads the user's files after we return.
    while (inflight > 0) await new Promise<void>((r) => (wake = r));
    if (pendingFailures.length) record([], pendingFailures);
    await after;
    const finished = !fatal && doneCount + failures.size >= total;
    if (journal && finished) await journal.complete({ device: classifier.device, listing }).catch((e) => void (fatal ??= e));
    await journal?.close();
  }
  if (fatal) throw fatal;
  progress(true);
  const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);
  return {
    results: [...results.values()].sort(byFile),
    failed: [...failures.values()].sort(byFile),
    skipped: walk.skipped,
    special: walk.special.map((x) => ({ file: x.rel, reason: x.reason })),
    stopped: stopped && doneCount + failures.size < total,
    resumed,
    listing,
    top,
    device: classifier.device,
    fallback: classifier.fallback,
    batch,
    seconds: (performance.now() - started) / 1000,
  };
}
