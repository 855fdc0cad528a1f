import type { EngineState } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `getState`. */
export async function getState(engine: Engine): Promise<EngineState> {
  return engine.state();
}
