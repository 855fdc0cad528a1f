import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `stopFolderRun` (being built on the engine's folder run). */
export async function stopFolderRun(_engine: Engine, _args: CommandArgs<'stopFolderRun'>): Promise<CommandResults['stopFolderRun']> {
  throw new RwsError('not-built', 'stopFolderRun: not built yet');
}
