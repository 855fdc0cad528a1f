import { RwsError } from '../core/errors.js';
import type { CommandArgs, CommandResults } from '../api/contract.js';
import type { Engine } from './engine.js';

/** Command `evaluate` (being built on the engine's folder run). */
export async function evaluate(_engine: Engine, _args: CommandArgs<'evaluate'>): Promise<CommandResults['evaluate']> {
  throw new RwsError('not-built', 'evaluate: not built yet');
}
