import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `resumeFolderRun` (being built on the engine's folder run). */
export async function resumeFolderRun(_engine: Engine, _args: CommandArgs<'resumeFolderRun'>): Promise<CommandResults['resumeFolderRun']> {
  throw new RwsError('not-built', 'resumeFolderRun: not built yet');
}
