import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `exportResults` (being built on the engine's folder run). */
export async function exportResults(_engine: Engine, _args: CommandArgs<'exportResults'>): Promise<CommandResults['exportResults']> {
  throw new RwsError('not-built', 'exportResults: not built yet');
}
