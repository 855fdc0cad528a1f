// What each IPC handler file gets: the engine to route to, the settings, and `handle`, which
// registers an invoke handler that only the app's own pages may call.
import type { BrowserWindow, IpcMainInvokeEvent } from 'electron';
import type { CommandName } from '../../api/contract.js';
import type { DesktopShell } from '../desktop-shell.js';
import type { SettingsStore } from '../settings.js';

export interface IpcContext {
  engine: { call(command: CommandName, args: unknown): Promise<unknown> };
  settings: SettingsStore;
  /** What only the desktop has (notifications, taskbar progress, the file manager). */
  shell: DesktopShell;
  /** Register `fn` for `channel`; it runs only for senders on the app's pages, and errors become IpcReply values. */
  handle(channel: string, fn: (args: unknown, event: IpcMainInvokeEvent) => Promise<unknown>): void;
  /** The main window, for dialogs. */
  window(): BrowserWindow | null;
}
