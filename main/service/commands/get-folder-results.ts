import { RwsError } from '../../core/errors.js';
import type { CommandArgs, FolderResults } from '../../api/contract.js';
import { mixKey } from '../../core/mix.js';
import type { Engine } from '../engine.js';

/** Command `getFolderResults`: a page of the current run's results (sorted by file), its failures and progress. */
export async function getFolderResults(engine: Engine, args: CommandArgs<'getFolderResults'>): Promise<FolderResults> {
  const job = engine.folder;
  if (!job) throw new RwsError('no-run', 'getFolderResults: no folder run yet');
  const offset = args?.offset ?? 0;
  const limit = args?.limit ?? 1000;
  return {
    progress: job.progress(),
    results: job.results.page(offset, limit),
    count: job.results.count,
    failed: job.sortedFailures(),
    skipped: job.skipped,
    special: job.special,
    mixKey: mixKey(job.spec.mix),
    device: job.device,
  };
}
