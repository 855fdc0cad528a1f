import type { CommandArgs, PackInfo } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `loadPack`: load a pack folder (or the default pack); the mix is reset to off. */
export async function loadPack(engine: Engine, args: CommandArgs<'loadPack'>): Promise<PackInfo> {
  return (await engine.loadPack(args?.dir)).info;
}
