// Splitting one folder run across machines (`rws run --shard I/N`): which files a shard takes, how
// a scheduler's array index becomes a shard, and the listing every shard of a run must share.
// No coordinator: each shard walks the whole input and keeps the files whose key hashes to it, so
// shards agree on the split whatever machine, OS or walk order they run on.
import { createHash } from 'node:crypto';
import { RwsError } from '../../core/errors.js';

/** Shard `index` of `count` (1-based, as in `--shard 2/3`). */
export interface Shard {
  index: number;
  count: number;
}

/** A shard and, for `--shard auto`, the environment variables it came from. */
export interface ShardChoice extends Shard {
  from?: string;
}

/** Most shards a run may have (a Slurm array's usual ceiling is far below). */
export const MAX_SHARDS = 1_000_000;

/**
 * A file's shard key: its path relative to its input root, `/`-separated, NFC-normalised (macOS
 * lists names decomposed, Linux and Windows as they were written).
 */
export function shardKey(relative: string): string {
  return relative.replace(/\\/g, '/').normalize('NFC');
}

/** The shard (1..count) a key falls in: the first 64 bits of its UTF-8 SHA-256, big-endian, modulo count, plus one. */
export function shardOf(key: string, count: number): number {
  const digest = createHash('sha256').update(key, 'utf8').digest();
  return Number(digest.readBigUInt64BE(0) % BigInt(count)) + 1;
}

/** Whether the file with this key belongs to `shard`. */
export function inShard(key: string, shard: Shard): boolean {
  return shard.count === 1 || shardOf(key, shard.count) === shard.index;
}

/** `2/3` */
export function shardText(s: Shard): string {
  return `${s.index}/${s.count}`;
}

/**
 * What every shard of one run sees: the number of entries (files and unreadable entries) of the
 * whole input, across all shards, and the SHA-256 of their sorted names. Shards that saw different
 * listings ran on different folders, or on one that changed between them.
 */
export interface Listing {
  entries: number;
  sha256: string;
}

/** The listing of a walk: `names` are the results' file names, all shards' together. */
export function listingOf(names: Iterable<string>): Listing {
  const sorted = [...names].map((n) => n.normalize('NFC')).sort();
  const hash = createHash('sha256');
  for (const n of sorted) hash.update(n + '\n', 'utf8');
  return { entries: sorted.length, sha256: hash.digest('hex') };
}

const usage = (spec: string, why: string) => new RwsError('usage-shard', `--shard ${spec}: ${why}`, { field: '--shard' });

function wholeNumber(v: string | undefined): number | undefined {
  if (v === undefined || !/^\s*[0-9]+\s*$/.test(v)) return undefined;
  return Number(v);
}

/**
 * Parse `--shard`: `I/N` (1 ≤ I ≤ N), `auto` or `auto/N`. `auto` takes the index from the
 * scheduler running this process: a Slurm job array (`SLURM_ARRAY_TASK_ID` counted from
 * `SLURM_ARRAY_TASK_MIN` by `SLURM_ARRAY_TASK_STEP`, N = `SLURM_ARRAY_TASK_COUNT`), a Kubernetes
 * Indexed Job (`JOB_COMPLETION_INDEX`, from 0) or GNU parallel (`PARALLEL_SEQ`, from 1); the last
 * two do not say how many shards there are, so they need `auto/N`.
 */
export function parseShard(spec: string, env: Record<string, string | undefined> = process.env): ShardChoice {
  const fixed = /^\s*([0-9]+)\s*\/\s*([0-9]+)\s*$/.exec(spec);
  const auto = /^\s*auto\s*(?:\/\s*([0-9]+)\s*)?$/.exec(spec);
  if (!fixed && !auto) throw usage(spec, 'expected I/N (shard I of N, from 1), auto or auto/N');
  const given = fixed ? Number(fixed[2]) : auto![1] !== undefined ? Number(auto![1]) : undefined;
  if (given !== undefined && (given < 1 || given > MAX_SHARDS)) throw usage(spec, `the number of shards must be from 1 to ${MAX_SHARDS}`);
  const check = (s: ShardChoice): ShardChoice => {
    if (s.index < 1 || s.index > s.count) throw usage(spec, `shard ${s.index} is not one of 1..${s.count}${s.from ? ` (from ${s.from})` : ''}`);
    return s;
  };
  if (fixed) return check({ index: Number(fixed[1]), count: given! });

  const slurmId = env.SLURM_ARRAY_TASK_ID;
  if (slurmId !== undefined && slurmId !== '') {
    const id = wholeNumber(slurmId);
    const min = wholeNumber(env.SLURM_ARRAY_TASK_MIN) ?? 0;
    const step = wholeNumber(env.SLURM_ARRAY_TASK_STEP) || 1;
    const count = wholeNumber(env.SLURM_ARRAY_TASK_COUNT);
    const from = `SLURM_ARRAY_TASK_ID=${slurmId}, SLURM_ARRAY_TASK_MIN=${env.SLURM_ARRAY_TASK_MIN ?? ''}, SLURM_ARRAY_TASK_COUNT=${env.SLURM_ARRAY_TASK_COUNT ?? ''}`;
    if (id === undefined || count === undefined || count < 1) throw usage(spec, `cannot read the Slurm array from ${from}`);
    if ((id - min) % step !== 0 || id < min) throw usage(spec, `the Slurm array is not evenly numbered (${from}, step ${step}): use --array=0-${count - 1} or give --shard I/N`);
    if (given !== undefined && given !== count) throw usage(spec, `the Slurm array has ${count} tasks, not ${given} (${from})`);
    return check({ index: (id - min) / step + 1, count, from });
  }
  const k8s = env.JOB_COMPLETION_INDEX;
  if (k8s !== undefined && k8s !== '') {
    const idx = wholeNumber(k8s);
    if (idx === undefined) throw usage(spec, `JOB_COMPLETION_INDEX=${k8s} is not a whole number`);
    if (given === undefined) throw usage(spec, 'a Kubernetes Indexed Job gives the index (JOB_COMPLETION_INDEX) but not the count: use --shard auto/N with N = the Job\'s completions');
    return check({ index: idx + 1, count: given, from: `JOB_COMPLETION_INDEX=${k8s}` });
  }
  const seq = env.PARALLEL_SEQ;
  if (seq !== undefined && seq !== '') {
    const n = wholeNumber(seq);
    if (n === undefined) throw usage(spec, `PARALLEL_SEQ=${seq} is not a whole number`);
    if (given === undefined) throw usage(spec, 'GNU parallel gives the job number (PARALLEL_SEQ) but not the count: use --shard auto/N, or --shard {#}/N in the parallel command');
    return check({ index: n, count: given, from: `PARALLEL_SEQ=${seq}` });
  }
  throw usage(spec, 'no scheduler index in the environment (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or PARALLEL_SEQ): give --shard I/N');
}
