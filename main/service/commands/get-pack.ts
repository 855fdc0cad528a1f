import type { PackInfo } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `getPack`: the loaded pack, or null when none is loaded yet. */
export async function getPack(engine: Engine): Promise<PackInfo | null> {
  return engine.loaded?.info ?? null;
}
