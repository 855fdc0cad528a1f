// The fuzz loop. Coverage-guided fuzzing (Jazzer.js) cannot run here: Jazzer.js 4 needs glibc 2.38
// (Debian 12 has 2.36) and 2.x cannot fetch its native binary, so this drives fast-check's
// generators instead: mutations of a seed corpus plus structure-aware builders (see generators.ts).
//
// Each input must either load or be refused with our RwsError whose message names the file. Anything
// else is a finding: another exception (crash), a call over the time bound, or one that grows
// ArrayBuffer memory by more than the bound (the reader allocated what a header claimed).
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { isRwsError } from '../../main/core/errors.js';

export interface FuzzTarget {
  name: string;
  /** The file name the target hands to the reader; a refusal's message must contain it. */
  file: string;
  arbitrary: fc.Arbitrary<Uint8Array>;
  run(bytes: Uint8Array): unknown;
}

export interface Finding {
  kind: 'crash' | 'slow' | 'memory' | 'message';
  /** First line of the error (or what was wrong), numbers blurred so repeats group together. */
  what: string;
  count: number;
  /** Where the first input of this kind was saved. */
  saved: string;
  input: Uint8Array;
}

export interface FuzzReport {
  target: string;
  inputs: number;
  ms: number;
  loaded: number;
  refused: number;
  /** Refusals by RwsError code. */
  codes: Record<string, number>;
  findings: Finding[];
  slowestMs: number;
  /** Calls over the time bound that ran in time when repeated (machine stalls, not findings). */
  stalls: number;
  /** Largest ArrayBuffer growth seen across one call, in MiB. */
  maxGrowthMiB: number;
}

export interface FuzzOptions {
  runs: number;
  seed?: number;
  /** A call slower than this is a finding (default 2000 ms, or FUZZ_MAX_MS). */
  maxMs?: number;
  /** A call that grows ArrayBuffer memory by more than this is a finding (default 256 MiB). */
  maxGrowthBytes?: number;
  /** With no progress for this long the watchdog saves the input and kills the process (default 30 s). */
  hangMs?: number;
}

/** Where findings are written: `$RWS_FUZZ_FINDINGS`, else a folder in the OS temp dir. */
export function findingsDir(): string {
  return process.env.RWS_FUZZ_FINDINGS ?? path.join(tmpdir(), 'rws-fuzz-findings');
}

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const state = new Int32Array(workerData.sab, 0, 4);
const buf = new Uint8Array(workerData.sab, 16);
let last = -1, since = Date.now();
setInterval(() => {
  const c = Atomics.load(state, 0);
  if (c !== last || Atomics.load(state, 1) === 0) { last = c; since = Date.now(); return; }
  if (Date.now() - since < workerData.hangMs) return;
  fs.writeFileSync(workerData.out, buf.slice(0, Atomics.load(state, 2)));
  // The main thread is stuck, so write straight to fd 2 rather than through it.
  fs.writeSync(2, 'fuzz ' + workerData.target + ': an input ran for over ' + workerData.hangMs + ' ms (a hang); saved to ' + workerData.out + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 200);
`;

const blur = (s: string) => s.split('\n')[0]!.replace(/\/[^\s:"]*/g, 'PATH').replace(/\d+/g, 'N').slice(0, 200);

/** Run `runs` generated inputs through a target and report what happened. */
export async function fuzz(target: FuzzTarget, o: FuzzOptions): Promise<FuzzReport> {
  const maxMs = o.maxMs ?? Number(process.env.FUZZ_MAX_MS ?? 2000);
  const maxGrowth = o.maxGrowthBytes ?? 256 * 1024 * 1024;
  const seed = o.seed ?? Number(process.env.FUZZ_SEED ?? 20260101);
  const dir = findingsDir();
  mkdirSync(dir, { recursive: true });

  const sab = new SharedArrayBuffer(16 + 8 * 1024 * 1024);
  const state = new Int32Array(sab, 0, 4);
  const buf = new Uint8Array(sab, 16);
  const dog = new Worker(WATCHDOG, {
    eval: true,
    workerData: { sab, hangMs: o.hangMs ?? 30_000, target: target.name, out: path.join(dir, `${target.name}-hang.bin`) },
  });
  dog.unref();

  const report: FuzzReport = { target: target.name, inputs: 0, ms: 0, loaded: 0, refused: 0, codes: {}, findings: [], slowestMs: 0, stalls: 0, maxGrowthMiB: 0 };
  const byWhat = new Map<string, Finding>();
  const note = (kind: Finding['kind'], what: string, input: Uint8Array) => {
    const key = `${kind}:${blur(what)}`;
    const f = byWhat.get(key);
    if (f) return void f.count++;
    const saved = path.join(dir, `${target.name}-${kind}-${createHash('sha256').update(input).digest('hex').slice(0, 12)}.bin`);
    writeFileSync(saved, input);
    const finding: Finding = { kind, what: what.split('\n')[0]!.slice(0, 300), count: 1, saved, input };
    byWhat.set(key, finding);
    report.findings.push(finding);
  };

  const start = performance.now();
  const batch = 1000;
  try {
    for (let done = 0, b = 0; done < o.runs; b++) {
      const inputs = fc.sample(target.arbitrary, { numRuns: Math.min(batch, o.runs - done), seed: seed + b });
      for (const input of inputs) {
        if (input.length <= buf.length) buf.set(input);
        Atomics.store(state, 2, Math.min(input.length, buf.length));
        Atomics.add(state, 0, 1);
        Atomics.store(state, 1, 1);
        const before = process.memoryUsage().arrayBuffers;
        const t0 = performance.now();
        try {
          await target.run(input);
          report.loaded++;
        } catch (e) {
          if (isRwsError(e)) {
            report.refused++;
            report.codes[e.code] = (report.codes[e.code] ?? 0) + 1;
            if (!e.message.includes(target.file)) note('message', `${e.code}: message does not name the file: ${e.message}`, input);
          } else {
            const err = e as Error;
            note('crash', `${err?.name ?? typeof e}: ${err?.message ?? String(e)} ${(err?.stack ?? '').split('\n')[1]?.trim() ?? ''}`, input);
          }
        }
        const dt = performance.now() - t0;
        Atomics.store(state, 1, 0);
        const growth = process.memoryUsage().arrayBuffers - before;
        report.maxGrowthMiB = Math.max(report.maxGrowthMiB, growth / 1048576);
        report.slowestMs = Math.max(report.slowestMs, dt);
        if (dt > maxMs) {
          // A busy shared machine can stall any call (disk, scheduler): slow is a finding only if it is slow again.
          const again = performance.now();
          await Promise.resolve().then(() => target.run(input)).catch(() => undefined);
          const dt2 = performance.now() - again;
          if (dt2 > maxMs) note('slow', `took ${dt.toFixed(0)} ms, then ${dt2.toFixed(0)} ms again (bound ${maxMs} ms)`, input);
          else report.stalls++;
        }
        if (growth > maxGrowth) note('memory', `ArrayBuffer memory grew by ${(growth / 1048576).toFixed(0)} MiB in one call`, input);
        report.inputs++;
      }
      done += inputs.length;
    }
  } finally {
    report.ms = performance.now() - start;
    await dog.terminate();
  }
  return report;
}

/** One line of figures per target, for the console. */
export function formatReports(reports: FuzzReport[]): string {
  const rows = [['target', 'inputs', 'time s', 'inputs/s', 'loaded', 'refused', 'findings', 'slowest ms', 'stalls', 'max growth MiB', 'top refusal codes']];
  for (const r of reports) {
    const codes = Object.entries(r.codes).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([c, n]) => `${c} ${n}`).join(', ');
    rows.push([r.target, String(r.inputs), (r.ms / 1000).toFixed(1), ((r.inputs / r.ms) * 1000).toFixed(0), String(r.loaded), String(r.refused), String(r.findings.reduce((n, f) => n + f.count, 0)), r.slowestMs.toFixed(1), String(r.stalls), r.maxGrowthMiB.toFixed(1), codes]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  for (const r of reports) for (const f of r.findings) lines.push(`  finding ${r.target} ${f.kind} ×${f.count}: ${f.what} (input: ${f.saved})`);
  return lines.join('\n');
}
