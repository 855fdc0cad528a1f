import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `getFolderResults` (being built on the engine's folder run). */
export async function getFolderResults(_engine: Engine, _args: CommandArgs<'getFolderResults'>): Promise<CommandResults['getFolderResults']> {
  throw new RwsError('not-built', 'getFolderResults: not built yet');
}
