// IPC channels of what only the desktop host offers (native dialogs, the file manager); the
// api's own channels are CHANNELS/EVENT_CHANNELS in main/api/contract.ts.
export const HOST_CHANNELS = {
  pickFolder: 'rws:host:pickFolder',
  pickSaveFile: 'rws:host:pickSaveFile',
  openPath: 'rws:host:openPath',
} as const;

/** What every invoke handler answers: errors travel as values so their code and field survive IPC. */
export type IpcReply = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string; file?: string; field?: string } };
