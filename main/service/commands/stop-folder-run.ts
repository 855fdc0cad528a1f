import { RwsError } from '../../core/errors.js';
import type { FolderProgress } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `stopFolderRun`: stop after the batch in hand; what is done stays in the journal and the results files. */
export async function stopFolderRun(engine: Engine): Promise<FolderProgress> {
  const job = engine.folder;
  if (!job) throw new RwsError('no-run', 'stopFolderRun: no folder run to stop');
  await job.stop();
  return job.progress();
}
