import { assertOutsideInputs, checkBatch } from '../../engine/folder/plan.js';
import type { CommandArgs, FolderProgress } from '../../api/contract.js';
import type { Engine } from '../engine.js';
import { RwsError } from '../../core/errors.js';
import { assertWalkInsideRoots, holdsRun, specFromJournal } from '../folder-job.js';
import { resumeFolderRun } from './resume-folder-run.js';
import { mixFromArgument } from './set-mix.js';

/**
 * Command `startFolderRun`: classify every image under the inputs into the output folder (journal,
 * results.json, results.csv); with `auto`, each file under the mix Auto chooses. An output folder
 * that holds a run is refused unless `existing` says to resume that run or to replace its results
 * (the old results stay until the new run is done).
 */
export async function startFolderRun(engine: Engine, args: CommandArgs<'startFolderRun'>): Promise<FolderProgress> {
  const loaded = await engine.requirePack();
  engine.assertNoRun();
  if (args.batch !== undefined) checkBatch(args.batch, loaded.pack.manifest.input, 'batch', 'bad-argument');
  const inputs: string[] = [];
  for (const [i, p] of args.inputs.entries()) inputs.push(await engine.readable(p, `inputs.${i}`));
  const output = await engine.writable(args.output, 'output');
  const earlier = holdsRun(output);
  if (earlier && !args.existing) {
    throw new RwsError('output-has-run', `${output}: this folder already holds the results of a run; resume that run, replace its results, or choose another folder`, { file: output, field: 'output' });
  }
  if (earlier && args.existing === 'resume') {
    const theirs = (await specFromJournal(output).catch(() => undefined))?.inputs;
    if (theirs && theirs.join('\n') !== inputs.join('\n')) {
      throw new RwsError('resume-other-inputs', `${output}: the run there classified ${theirs.join(', ')}, not ${inputs.join(', ')}; replace its results or choose another folder`, { file: output, field: 'output' });
    }
    return resumeFolderRun(engine, { output });
  }
  if (args.copyToClassFolders) assertOutsideInputs(inputs, output, 'output');
  const walk = await assertWalkInsideRoots(engine, inputs);
  const auto = args.auto === true;
  const mix = auto ? {} : args.mix === undefined ? { ...engine.mix } : mixFromArgument(engine, args.mix, 'mix');
  return engine.startFolderJob({ inputs, output, mix, ...(auto ? { auto } : {}), top: args.top ?? 5, copyToClassFolders: args.copyToClassFolders ?? false, batch: args.batch, ...(earlier ? { replace: true } : {}) }, false, walk);
}
