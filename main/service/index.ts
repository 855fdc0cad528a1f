/**
 * The command service: each command of main/api/contract.ts implemented once, over the engine.
 * Transports (the Electron IPC handlers, `rws serve`) only route to `call`; events come from `onAny`.
 */
import type { CommandName, CommandResults, CommandArgs } from '../api/contract.js';
import { parseArgs } from '../api/schemas.js';
import { RwsError } from '../core/errors.js';
import { Engine, type EngineOptions } from './engine.js';
import { browse } from './commands/browse.js';
import { classifyFrame } from './commands/classify-frame.js';
import { evaluate } from './commands/evaluate.js';
import { exportResults } from './commands/export-results.js';
import { getFolderResults } from './commands/get-folder-results.js';
import { getPack } from './commands/get-pack.js';
import { getState } from './commands/get-state.js';
import { getThumbnail } from './commands/get-thumbnail.js';
import { listDevices } from './commands/list-devices.js';
import { listRoots } from './commands/list-roots.js';
import { loadPack } from './commands/load-pack.js';
import { previewCondition } from './commands/preview-condition.js';
import { resumeFolderRun } from './commands/resume-folder-run.js';
import { setDevice } from './commands/set-device.js';
import { setMix } from './commands/set-mix.js';
import { startFolderRun } from './commands/start-folder-run.js';
import { stopFolderRun } from './commands/stop-folder-run.js';
import { uploadFiles } from './commands/upload-files.js';
import { classifyFile } from './commands/classify-file.js';
import { cancelEvaluation } from './commands/cancel-evaluation.js';
import { readResults } from './commands/read-results.js';

export { Engine, type EngineOptions } from './engine.js';
export type { Classifier, ClassifierFactory } from './models.js';

type Handler<K extends CommandName> = (engine: Engine, args: CommandArgs<K>) => Promise<CommandResults[K]>;

/** One handler per command; adding a command is adding a file and a line here. */
export const handlers: { [K in CommandName]: Handler<K> } = {
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
  classifyFile,
  cancelEvaluation,
  readResults,
};

/** The engine with its commands, as a transport sees it. */
export interface Service {
  readonly engine: Engine;
  /** Validate `args` with the contract's schema, then run the command. */
  call<K extends CommandName>(command: K, args: unknown): Promise<CommandResults[K]>;
  on: Engine['events']['on'];
  onAny: Engine['events']['onAny'];
  dispose(): Promise<void>;
}

/** Create the service (and its engine); no model is loaded until a command needs one. */
export async function createService(opts: EngineOptions = {}): Promise<Service> {
  const engine = await Engine.create(opts);
  return {
    engine,
    async call<K extends CommandName>(command: K, args: unknown): Promise<CommandResults[K]> {
      const handler = handlers[command] as Handler<K> | undefined;
      if (!handler || !Object.prototype.hasOwnProperty.call(handlers, command)) {
        throw new RwsError('unknown-command', `unknown command "${String(command)}"`, { field: 'command' });
      }
      const parsed = parseArgs(command, args) as CommandArgs<K>;
      return handler(engine, parsed);
    },
    on: engine.events.on.bind(engine.events),
    onAny: engine.events.onAny.bind(engine.events),
    dispose: () => engine.dispose(),
  };
}
