import { existsSync } from 'node:fs';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import type { CommandArgs, FolderProgress } from '../../api/contract.js';
import type { Engine } from '../engine.js';
import { identityPack, packRunIdentity } from '../../engine/folder/plan.js';
import { assertWalkInsideRoots, OUTPUT_FILES, specFromJournal } from '../folder-job.js';

/**
 * Command `resumeFolderRun`: continue the last run (or the one whose output folder is given, from its
 * journal); files already done are not classified again, and the final results equal an uninterrupted run's.
 */
export async function resumeFolderRun(engine: Engine, args: CommandArgs<'resumeFolderRun'>): Promise<FolderProgress> {
  engine.assertNoRun();
  const loaded = await engine.requirePack();
  const job = engine.folder;
  const output = args?.output ? await engine.writable(args.output, 'output') : job?.spec.output;
  if (!output) throw new RwsError('no-run', 'resumeFolderRun: no earlier run; give its output folder', { field: 'output' });
  if (job && job.spec.output === output) return engine.startFolderJob(job.spec, true);
  const { header, folder, ...spec } = await specFromJournal(output);
  const m = loaded.pack.manifest;
  if (header.model !== (await packRunIdentity(loaded.pack, (id) => spec.auto === true || spec.mix[id] !== undefined))) {
    const theirs = identityPack(header.model);
    const changed = theirs === `${m.id}@${m.version}` ? ' (its model or signatures have changed since)' : '';
    throw new RwsError('run-other-pack', `${output}: that run used ${theirs}; load that pack to resume it (loaded: ${m.id}@${m.version}${changed})`, { field: 'output' });
  }
  for (const [i, p] of spec.inputs.entries()) await engine.readable(p, `inputs.${i}`);
  const walk = await assertWalkInsideRoots(engine, spec.inputs);
  // The journal does not say whether files were copied into class folders; the folder does.
  const copyToClassFolders = existsSync(path.join(folder, OUTPUT_FILES.byClass));
  return engine.startFolderJob({ ...spec, copyToClassFolders }, true, walk);
}
