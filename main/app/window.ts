// The main window: secure options from policy.ts, shown on first paint, its bounds remembered.
import { BrowserWindow, screen } from 'electron';
import { clampWindowState, mainWindowOptions } from './policy.js';
import type { SettingsStore } from './settings.js';

/** Create the main window at its remembered place and load `url` (app://rws/index.html or the dev server). */
export function createMainWindow(settings: SettingsStore, preload: string, url: string): BrowserWindow {
  const displays = screen.getAllDisplays().map((d) => d.workArea);
  const state = clampWindowState(settings.get().window, displays);
  const win = new BrowserWindow(mainWindowOptions(state, preload));
  if (state.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());

  let timer: ReturnType<typeof setTimeout> | null = null;
  const remember = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (win.isDestroyed()) return;
      const maximized = win.isMaximized();
      // Keep the normal bounds while maximised, so un-maximising after a restart looks right.
      const b = maximized ? win.getNormalBounds() : win.getBounds();
      void settings.setWindow({ x: b.x, y: b.y, width: b.width, height: b.height, maximized });
    }, 400);
  };
  win.on('resize', remember);
  win.on('move', remember);
  win.on('maximize', remember);
  win.on('unmaximize', remember);
  win.on('close', () => {
    const maximized = win.isMaximized();
    const b = maximized ? win.getNormalBounds() : win.getBounds();
    void settings.setWindow({ x: b.x, y: b.y, width: b.width, height: b.height, maximized });
  });
  void win.loadURL(url);
  return win;
}
