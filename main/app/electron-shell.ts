// DesktopShell (desktop-shell.ts) in Electron: Notification, BrowserWindow.setProgressBar and shell.openPath.
import { Notification, shell, type BrowserWindow } from 'electron';
import type { DesktopShell } from './desktop-shell.js';

/** The shell of the app's main window (`window()` may be null while it is closed). */
export function electronShell(window: () => BrowserWindow | null): DesktopShell {
  const live = () => {
    const w = window();
    return w && !w.isDestroyed() ? w : null;
  };
  return {
    notify({ title, body }) {
      if (!Notification.isSupported()) return;
      const n = new Notification({ title, body });
      n.on('click', () => {
        const w = live();
        if (!w) return;
        if (w.isMinimized()) w.restore();
        w.show();
        w.focus();
      });
      n.show();
    },
    setProgress(fraction, mode) {
      live()?.setProgressBar(fraction === null ? -1 : fraction, mode ? { mode } : undefined);
    },
    focused: () => live()?.isFocused() ?? false,
    openPath: (p) => shell.openPath(p),
  };
}
