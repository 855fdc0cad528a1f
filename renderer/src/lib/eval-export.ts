// An evaluation report as CSV (one row per condition and severity) or JSON, for the Evaluation
// view's export. Pure, so it is tested in Node.
import type { EvalReport } from '../../../main/api/contract.js';

const field = (v: string | number) => {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** `condition,name,mix,severity,clean,patched,gain` rows (accuracies 0..1), RFC 4180. */
export function evalCsv(r: EvalReport): string {
  const lines = [['condition', 'name', 'mix', 'severity', 'clean_accuracy', 'patched_accuracy', 'gain'].join(',')];
  lines.push(['none', 'No corruption', '', '', r.cleanAccuracy, '', ''].map(field).join(','));
  for (const c of r.conditions) {
    const mix = Object.entries(c.mix).map(([k, a]) => `${k}=${a}`).join(';');
    for (const p of c.points) lines.push([c.id, c.name, mix, p.severity, p.clean, p.patched, +(p.patched - p.clean).toFixed(6)].map(field).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

/** The report as the engine gave it, with where the images came from and how many. */
export function evalJson(r: EvalReport): string {
  return JSON.stringify(r, null, 2) + '\n';
}
