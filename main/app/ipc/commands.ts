// Every command of the api, one handler file each; the table's type makes a missing one a compile error.
import type { CommandName } from '../../api/contract.js';
import type { IpcContext } from './context.js';
import { register as getState } from './get-state.js';
import { register as loadPack } from './load-pack.js';
import { register as getPack } from './get-pack.js';
import { register as listDevices } from './list-devices.js';
import { register as setDevice } from './set-device.js';
import { register as setMix } from './set-mix.js';
import { register as classifyFrame } from './classify-frame.js';
import { register as startFolderRun } from './start-folder-run.js';
import { register as stopFolderRun } from './stop-folder-run.js';
import { register as resumeFolderRun } from './resume-folder-run.js';
import { register as getFolderResults } from './get-folder-results.js';
import { register as exportResults } from './export-results.js';
import { register as listRoots } from './list-roots.js';
import { register as browse } from './browse.js';
import { register as evaluate } from './evaluate.js';
import { register as previewCondition } from './preview-condition.js';
import { register as getThumbnail } from './get-thumbnail.js';
import { register as uploadFiles } from './upload-files.js';

export const COMMAND_HANDLERS: { [K in CommandName]: (ctx: IpcContext) => void } = {
  getState,
  loadPack,
  getPack,
  listDevices,
  setDevice,
  setMix,
  classifyFrame,
  startFolderRun,
  stopFolderRun,
  resumeFolderRun,
  getFolderResults,
  exportResults,
  listRoots,
  browse,
  evaluate,
  previewCondition,
  getThumbnail,
  uploadFiles,
};

/** Register the invoke handler of every command. */
export function registerCommandHandlers(ctx: IpcContext): void {
  for (const register of Object.values(COMMAND_HANDLERS)) register(ctx);
}
