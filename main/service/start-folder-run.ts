import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `startFolderRun` (being built on the engine's folder run). */
export async function startFolderRun(_engine: Engine, _args: CommandArgs<'startFolderRun'>): Promise<CommandResults['startFolderRun']> {
  throw new RwsError('not-built', 'startFolderRun: not built yet');
}
