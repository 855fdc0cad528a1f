import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import type { CommandArgs, ResultsText } from '../../api/contract.js';
import { readRegularText, type FileError } from '../../engine/io/regular-file.js';
import type { Engine } from '../engine.js';
import { OUTPUT_FILES } from '../folder-job.js';

/** Command `readResults`: results.csv or results.json that the current folder run wrote into its output folder (the browser offers it as a download). */
export async function readResults(engine: Engine, args: CommandArgs<'readResults'>): Promise<ResultsText> {
  const job = engine.folder;
  if (!job) throw new RwsError('no-run', 'readResults: no folder run yet', { field: 'format' });
  const name = args.format === 'csv' ? OUTPUT_FILES.csv : OUTPUT_FILES.json;
  const file = path.join(job.folder, name);
  let text: string;
  try {
    text = await readRegularText(await engine.readable(file, 'format'), { what: 'the results', code: 'no-results', field: 'format' });
  } catch (e) {
    // Only a file not there yet is "not written yet"; a refused or unreadable one says why.
    if ((e as FileError).errno !== 'ENOENT' && (e as RwsError).code !== 'not-found') throw e;
    throw new RwsError('no-results', `${file}: the run has not written its results yet (they are written when it ends or stops)`, { file, field: 'format' });
  }
  return { file, name, format: args.format, text };
}
