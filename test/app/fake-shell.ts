// A DesktopShell that records what the app asked of the desktop, for tests without Electron.
import type { DesktopShell, ProgressMode } from '../../main/app/desktop-shell.js';

export type FakeShell = DesktopShell & {
  notes: { title: string; body: string }[];
  progress: [number | null, ProgressMode | undefined][];
  opened: string[];
  isFocused: boolean;
};

export function fakeShell(): FakeShell {
  const s: FakeShell = {
    notes: [],
    progress: [],
    opened: [],
    isFocused: false,
    notify: (n) => void s.notes.push(n),
    setProgress: (f, mode) => void s.progress.push([f, mode]),
    focused: () => s.isFocused,
    openPath: async (p) => {
      s.opened.push(p);
      return '';
    },
  };
  return s;
}
