// The window's title follows a folder run or an evaluation (the taskbar and the browser tab show
// it while the app is behind other windows). Pure, so it is tested in Node.
import type { FolderProgress } from '../../../main/api/contract.js';
import { runFraction } from '../../../main/api/run-notice.js';

export const APP_TITLE = 'RWS Studio';

const WHAT = { folder: 'Folder run', eval: 'Evaluation' } as const;

function part(p: FolderProgress): string | null {
  const what = WHAT[p.kind];
  if (p.phase === 'starting' || p.phase === 'running' || p.phase === 'stopping') {
    const f = runFraction(p);
    return `${f === null ? 'Starting' : `${Math.floor(f * 100)}%`} · ${what}`;
  }
  if (p.phase === 'done') return `Done · ${what}`;
  if (p.phase === 'failed') return `Failed · ${what}`;
  if (p.phase === 'stopped') return `Stopped · ${what}`;
  return null;
}

/** `37% · Folder run · RWS Studio` while a run goes (an evaluation under way comes first), the last end otherwise. */
export function windowTitle(run: FolderProgress | null, evaluation: FolderProgress | null, connection: 'open' | 'lost' | 'connecting' = 'open'): string {
  const active = (p: FolderProgress | null) => p !== null && (p.phase === 'starting' || p.phase === 'running' || p.phase === 'stopping');
  const first = active(evaluation) ? evaluation : active(run) ? run : (run ?? evaluation);
  const text = first ? part(first) : null;
  const lost = connection === 'lost' ? 'Connection lost · ' : '';
  return `${lost}${text ? `${text} · ` : ''}${APP_TITLE}`;
}
