import type { FolderProgress } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `cancelEvaluation`: stop the evaluation under way after its batch in hand; its progress, or null when none runs. */
export async function cancelEvaluation(engine: Engine): Promise<FolderProgress | null> {
  return engine.cancelEvaluation();
}
