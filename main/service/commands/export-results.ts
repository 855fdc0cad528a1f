import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import type { CommandArgs, ExportDone } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** Command `exportResults`: the run's results as CSV or JSON (the `rws run --json` format), written atomically. */
export async function exportResults(engine: Engine, args: CommandArgs<'exportResults'>): Promise<ExportDone> {
  const job = engine.folder;
  if (!job) throw new RwsError('no-run', 'exportResults: no folder run to export');
  const file = await engine.writable(args.file, 'file');
  await mkdir(path.dirname(file), { recursive: true });
  const n = await job.writeOutputs(file, args.format);
  return { file, format: args.format, results: n.results, failed: n.failed };
}
