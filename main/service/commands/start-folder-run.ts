import { assertOutsideInputs, checkBatch } from '../../engine/folder/plan.js';
import type { CommandArgs, FolderProgress } from '../../api/contract.js';
import type { Engine } from '../engine.js';
import { assertWalkInsideRoots } from '../folder-job.js';
import { mixFromArgument } from './set-mix.js';

/** Command `startFolderRun`: classify every image under the inputs into the output folder (journal, results.json, results.csv). */
export async function startFolderRun(engine: Engine, args: CommandArgs<'startFolderRun'>): Promise<FolderProgress> {
  const loaded = await engine.requirePack();
  engine.assertNoRun();
  if (args.batch !== undefined) checkBatch(args.batch, loaded.pack.manifest.input, 'batch', 'bad-argument');
  const inputs: string[] = [];
  for (const [i, p] of args.inputs.entries()) inputs.push(await engine.readable(p, `inputs.${i}`));
  const output = await engine.writable(args.output, 'output');
  if (args.copyToClassFolders) assertOutsideInputs(inputs, output, 'output');
  const walk = await assertWalkInsideRoots(engine, inputs);
  const mix = args.mix === undefined ? { ...engine.mix } : mixFromArgument(engine, args.mix, 'mix');
  return engine.startFolderJob({ inputs, output, mix, top: args.top ?? 5, copyToClassFolders: args.copyToClassFolders ?? false, batch: args.batch }, false, walk);
}
