// IPC channels of what only the desktop host offers (native dialogs, the file manager); the
// contract's own channels are CHANNELS/EVENT_CHANNELS in contract.ts. Here, not in main/app, so
// the preload imports it without reaching into the main process's code.
export const HOST_CHANNELS = {
  pickFolder: 'rws:host:pickFolder',
  pickSaveFile: 'rws:host:pickSaveFile',
  openPath: 'rws:host:openPath',
} as const;

/** What every invoke handler answers: errors travel as values so their code and field survive IPC. */
export type { Reply as IpcReply } from '../core/errors.js';
