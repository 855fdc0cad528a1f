import type { ConditionMix } from '../../core/signature.js';
import { writeFileAtomic } from '../io/atomic-file.js';
import type { FileFailure, FileResult } from './journal.js';

/** A folder run's final results as `rws run --json` writes them (DESIGN.md): no timestamps, sorted by path. */
export interface RunReport {
  pack: string;
  mix: ConditionMix | 'auto';
  device: string;
  /** With `mix: 'auto'`, each result also says the mix auto chose for it. */
  results: { file: string; top: FileResult['top']; mix?: ConditionMix }[];
  failed: FileFailure[];
}

const byFile = (a: { file: string }, b: { file: string }) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0);

/** Build the report from a run's results and failures, in path order. */
export function buildReport(pack: string, mix: ConditionMix | 'auto', device: string, results: Iterable<FileResult>, failed: Iterable<FileFailure>): RunReport {
  return {
    pack,
    mix,
    device,
    results: [...results].sort(byFile).map((r) => (mix === 'auto' ? { file: r.file, top: r.top, mix: r.mix } : { file: r.file, top: r.top })),
    failed: [...failed].sort(byFile).map((f) => ({ file: f.file, code: f.code, message: f.message })),
  };
}

/** The report as JSON text (two-space indent, trailing newline). */
export function reportJson(report: RunReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The report as CSV (RFC 4180): one row per file, `status` ok or failed, then index, label and
 * score of each of the k best classes, with `--mix auto` the mix chosen (`id=α;id=α`, empty for
 * the clean model), then the failure's code and message.
 */
export function reportCsv(report: RunReport): string {
  const k = Math.max(0, ...report.results.map((r) => r.top.length));
  const head = ['file', 'status'];
  for (let i = 1; i <= k; i++) head.push(`top${i}_index`, `top${i}_label`, `top${i}_score`);
  const auto = report.mix === 'auto';
  if (auto) head.push('mix');
  head.push('error_code', 'error_message');
  const rows: (string | number)[][] = [];
  const all = [...report.results.map((r) => ({ file: r.file, r })), ...report.failed.map((f) => ({ file: f.file, f }))].sort(byFile);
  for (const e of all) {
    const row: (string | number)[] = [e.file, 'r' in e ? 'ok' : 'failed'];
    for (let i = 0; i < k; i++) {
      const t = 'r' in e ? e.r.top[i] : undefined;
      row.push(t?.index ?? '', t?.label ?? '', t?.score ?? '');
    }
    if (auto) row.push('r' in e && e.r.mix ? Object.entries(e.r.mix).map(([id, a]) => `${id}=${a}`).join(';') : '');
    row.push('f' in e ? e.f.code : '', 'f' in e ? e.f.message : '');
    rows.push(row);
  }
  return [head, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** Write the report as JSON and/or CSV, each atomically (temp file, fsync, rename). */
export async function writeReport(report: RunReport, out: { json?: string; csv?: string }): Promise<void> {
  if (out.json) await writeFileAtomic(out.json, reportJson(report));
  if (out.csv) await writeFileAtomic(out.csv, reportCsv(report));
}
