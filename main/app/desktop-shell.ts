// The parts of the desktop that only Electron has (system notifications, progress in the taskbar,
// the file manager), behind one small interface: electron-shell.ts implements it, tests pass a
// fake. RunFeedback turns the engine's progress events into taskbar progress and a notification
// when a run or an evaluation ends. No Electron import here.
import type { FolderProgress } from '../api/contract.js';
import { runEndNotice, runFraction } from '../api/run-notice.js';

export type ProgressMode = 'normal' | 'indeterminate' | 'error' | 'paused';

export interface DesktopShell {
  /** A system notification (clicking it brings the window forward). */
  notify(n: { title: string; body: string }): void;
  /** Progress on the window's taskbar button or dock icon: 0..1, or null for none. */
  setProgress(fraction: number | null, mode?: ProgressMode): void;
  /** Whether the app's window is in front (a system notification is then not needed). */
  focused(): boolean;
  /** Show a folder in the file manager; resolves to an error text, empty when it worked (Electron's shell.openPath). */
  openPath(path: string): Promise<string>;
}

/** Taskbar progress while a folder run or an evaluation goes, and a notification when one ends. */
export class RunFeedback {
  private readonly phases = new Map<FolderProgress['kind'], FolderProgress['phase']>();

  constructor(private readonly shell: DesktopShell) {}

  onProgress(p: FolderProgress): void {
    const before = this.phases.get(p.kind);
    this.phases.set(p.kind, p.phase);
    if (p.phase === 'starting' || p.phase === 'running' || p.phase === 'stopping') {
      const f = runFraction(p);
      this.shell.setProgress(f ?? 0, f === null ? 'indeterminate' : 'normal');
      return;
    }
    if (before === p.phase) return;
    if (p.phase === 'failed') this.shell.setProgress(1, 'error');
    else if (p.phase === 'stopped') this.shell.setProgress(runFraction(p) ?? 0, 'paused');
    else this.shell.setProgress(null);
    const notice = runEndNotice(p);
    if (notice && !this.shell.focused()) this.shell.notify({ title: notice.title, body: notice.body });
  }
}
