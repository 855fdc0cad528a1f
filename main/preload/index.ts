// The window's only bridge to the app: `window.rws`, one typed function per command of the api
// (no generic send/invoke), plus `window.rwsFiles.pathForFile` for dropped folders. Built as
// CommonJS: a sandboxed preload cannot load ES modules. Imports types only from the contract, so
// zod stays out of the preload.
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import type { CommandName, CommandResults, EventName, RwsApi, RwsEvents } from '../api/contract.js';
import { HOST_CHANNELS, type IpcReply } from '../api/host-channels.js';

async function invoke<T>(channel: string, args?: unknown): Promise<T> {
  const reply = (await ipcRenderer.invoke(channel, args)) as IpcReply;
  if (reply.ok) return reply.value as T;
  // The message already names the file and field; code/file/field are kept for callers that look.
  throw Object.assign(new Error(reply.error.message), reply.error);
}

const command =
  <K extends CommandName>(name: K) =>
  (args?: unknown): Promise<CommandResults[K]> =>
    invoke<CommandResults[K]>(`rws:${name}`, args);

const api: RwsApi = {
  host: 'electron',
  getState: command('getState'),
  loadPack: command('loadPack'),
  getPack: command('getPack'),
  listDevices: command('listDevices'),
  setDevice: command('setDevice'),
  setMix: command('setMix'),
  classifyFrame: command('classifyFrame'),
  startFolderRun: command('startFolderRun'),
  stopFolderRun: command('stopFolderRun'),
  resumeFolderRun: command('resumeFolderRun'),
  getFolderResults: command('getFolderResults'),
  exportResults: command('exportResults'),
  listRoots: command('listRoots'),
  browse: command('browse'),
  evaluate: command('evaluate'),
  previewCondition: command('previewCondition'),
  getThumbnail: command('getThumbnail'),
  uploadFiles: command('uploadFiles'),
  classifyFile: command('classifyFile'),
  cancelEvaluation: command('cancelEvaluation'),
  readResults: command('readResults'),
  on<E extends EventName>(event: E, cb: (payload: RwsEvents[E]) => void): () => void {
    const channel = `rws:event:${event}`;
    // The renderer never sees the IpcRendererEvent (it would expose ipcRenderer.sender).
    const listener = (_e: Electron.IpcRendererEvent, payload: RwsEvents[E]) => cb(payload);
    ipcRenderer.on(channel, listener);
    return () => {
      ipcRenderer.removeListener(channel, listener);
    };
  },
  pickFolder: () => invoke<string | null>(HOST_CHANNELS.pickFolder),
  pickSaveFile: (opts) => invoke<string | null>(HOST_CHANNELS.pickSaveFile, opts),
  openPath: (p) => invoke<void>(HOST_CHANNELS.openPath, p),
};

contextBridge.exposeInMainWorld('rws', api);
contextBridge.exposeInMainWorld('rwsFiles', { pathForFile: (file: File) => webUtils.getPathForFile(file) });
