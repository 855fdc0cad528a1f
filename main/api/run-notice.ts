// What the app says when a folder run or an evaluation ends: one text for the desktop's system
// notification (main/app), the browser's Notification and the in-app notice (renderer).
import type { FolderProgress } from './contract.js';

export interface RunNotice {
  title: string;
  body: string;
  tone: 'success' | 'error';
}

/** The notice for a run that has just reached `p.phase`; null for phases that need none (a stop the user asked for). */
export function runEndNotice(p: FolderProgress): RunNotice | null {
  const what = p.kind === 'eval' ? 'Evaluation' : 'Folder run';
  if (p.phase === 'failed') return { title: `${what} failed`, body: p.message ?? 'See the app for the reason.', tone: 'error' };
  if (p.phase !== 'done') return null;
  if (p.kind === 'eval') return { title: 'Evaluation finished', body: `${p.done.toLocaleString('en-US')} images through both models; the charts are in the Evaluation view.`, tone: 'success' };
  const failed = p.failed ? `, ${p.failed.toLocaleString('en-US')} could not be read` : '';
  const where = p.output ? ` Results in ${p.output}` : '';
  return { title: 'Folder run finished', body: `${p.done.toLocaleString('en-US')} images classified${failed}.${where}`, tone: 'success' };
}

/** The share of a run done, 0..1, or null while its size is unknown. */
export function runFraction(p: FolderProgress): number | null {
  if (!p.total) return null;
  return Math.min(1, (p.done + (p.kind === 'folder' ? p.failed : 0)) / p.total);
}
