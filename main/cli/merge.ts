import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { mergeShards } from '../engine/folder/merge.js';
import { mixText } from '../engine/folder/journal.js';
import { EXIT } from './exit.js';

interface MergeOptions {
  formats?: ('json' | 'csv')[];
  partial?: boolean;
}

function parseFormats(v: string): ('json' | 'csv')[] {
  const list = v.split(',').map((f) => f.trim().toLowerCase());
  if (list.length === 0 || list.some((f) => f !== 'json' && f !== 'csv')) throw new InvalidArgumentError('expected json, csv or json,csv');
  return [...new Set(list)] as ('json' | 'csv')[];
}

/** Registers `rws merge`: the shards of a split run into the results one run would have written. */
export function register(program: Command): void {
  program
    .command('merge')
    .description('merge the results of the shards of one run (rws run --shard I/N) into OUT_DIR/results.json, results.csv and summary.json')
    .argument('<out_dir>', 'folder to write results.json, results.csv and summary.json into (made if missing)')
    .argument('<shard_results...>', "each shard's results JSON (--json of rws run --shard) or journal")
    .option('--formats <list>', 'which results files to write: json, csv or json,csv (default: json,csv)', parseFormats)
    .option('--partial', 'merge what is there: missing shards and unfinished journals are listed in the summary (exit 3) instead of refused')
    .action(async (outDir: string, sources: string[], o: MergeOptions) => {
      process.exitCode = await mergeCommand(outDir, sources, o);
    });
}

async function mergeCommand(outDir: string, sources: string[], o: MergeOptions): Promise<number> {
  const formats = o.formats ?? ['json', 'csv'];
  const out = {
    json: formats.includes('json') ? path.join(outDir, 'results.json') : undefined,
    csv: formats.includes('csv') ? path.join(outDir, 'results.csv') : undefined,
    summary: path.join(outDir, 'summary.json'),
  };
  const t0 = performance.now();
  const s = await mergeShards(sources, out, { partial: o.partial });
  const secs = (performance.now() - t0) / 1000;
  const written = [out.json, out.csv].filter(Boolean).join(' and ');
  console.error(
    `rws merge: ${s.merged.length} of ${s.shards} shard${s.shards === 1 ? '' : 's'} of ${s.pack} (mix ${mixText(s.mix)}, ${s.device}): ` +
      `${s.results} results, ${s.failed} failed, in ${secs.toFixed(1)} s; ${written}, summary in ${out.summary}`,
  );
  if (s.missing.length) console.error(`rws merge: shards missing: ${s.missing.join(', ')} of ${s.shards} (--partial)`);
  for (const m of s.merged.filter((x) => !x.complete)) console.error(`rws merge: shard ${m.shard} (${m.source}) did not finish: what it had is merged (--partial)`);
  if (s.unaccounted) console.error(`rws merge: ${s.unaccounted} files of the input are in no shard's results (--partial)`);
  return s.complete && s.failed === 0 ? EXIT.ok : EXIT.partial;
}
