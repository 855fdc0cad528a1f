/**
 * The command service: each command of main/api/contract.ts implemented once, over the engine.
 * Transports (the Electron IPC handlers, `rws serve`) only route to `call`; events come from `onAny`.
 */
import { parseArgs, type CommandName, type CommandResults, type CommandArgs } from '../api/contract.js';
import { RwsError } from '../core/errors.js';
import { Engine, type EngineOptions } from './engine.js';
import { browse } from './browse.js';
import { classifyFrame } from './classify-frame.js';
import { evaluate } from './evaluate.js';
import { exportResults } from './export-results.js';
import { getFolderResults } from './get-folder-results.js';
import { getPack } from './get-pack.js';
import { getState } from './get-state.js';
import { getThumbnail } from './get-thumbnail.js';
import { listDevices } from './list-devices.js';
import { listRoots } from './list-roots.js';
import { loadPack } from './load-pack.js';
import { previewCondition } from './preview-condition.js';
import { resumeFolderRun } from './resume-folder-run.js';
import { setDevice } from './set-device.js';
import { setMix } from './set-mix.js';
import { startFolderRun } from './start-folder-run.js';
import { stopFolderRun } from './stop-folder-run.js';
import { uploadFiles } from './upload-files.js';

export { Engine, mixKey, type Classifier, type ClassifierFactory, type EngineOptions } from './engine.js';

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
