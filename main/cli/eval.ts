import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Severity } from '../core/corruptions/index.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { autoReportMarkdown, evaluateAutoOnPack } from '../engine/auto/eval.js';
import { evaluatePack } from '../engine/eval/evaluate.js';
import { reportHtml, reportText } from '../engine/eval/report.js';
import { fashionMnistDir } from '../engine/io/idx.js';
import { defaultPackDir } from '../engine/packs/pack.js';
import { collect, parseSeverityRange } from './options.js';
import { described } from './commands.js';

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** Registers `rws eval`: the paper's tables for a pack on labelled data, as text, JSON and an HTML report. */
export function register(program: Command): void {
  program
    .command('eval')
    .description(described('eval'))
    .option('--pack <dir>', 'model pack folder (default: the shipped Fashion-MNIST pack)')
    .option('--data <path>', 'labelled data: IDX files (.gz ok; a folder or the images file) or a folder with one sub-folder per class', fashionMnistDir())
    .option('--conditions <ids>', 'conditions to measure, comma-separated (default: all of the pack\'s)', list)
    .option('--severities <range>', 'severities, e.g. 1-5 or 3', parseSeverityRange, [1, 5] as [number, number])
    .option('--families <ids>', 'also measure each condition on these generator families (comma-separated, or all; see rws corrupt --families)', list)
    .option('--mix <mix>', 'a mix to measure on data with all its conditions: a named mix or ID=α,ID=α (repeatable; default: the pack\'s mixes); auto: measure the automatic choice instead', collect)
    .option('--as-is', 'with --mix auto: measure on --data as it is (images already in the weather), simulating nothing')
    .option('--auto-by <scope>', 'with --mix auto: folder (default), batch or file', 'folder')
    .option('--robust <dir>', 'folder of models fine-tuned on each condition: <condition>.onnx, <a>+<b>.onnx for a mix')
    .option('--lofo <dir>', 'with --families: leave-one-family-out signatures, <condition>@<lineage>.rws.safetensors, measured on the families left out')
    .option('--peers <file>', "with --families: the recipe's figures.json, whose BatchNorm-adaptation and TENT figures join the family tables")
    .option('--quant-variants <dir>', 'folder with <id>-f32 / <id>-int4 .rws.safetensors copies of the pack\'s signatures to compare')
    .option('--limit <n>', 'images to use', wholeNumber, 2000)
    .option('--seed <n>', 'corruption seed', (v: string) => Number(v), 0)
    .option('--threads <n>', 'onnxruntime threads', wholeNumber, 2)
    .option('--json <file>', 'write the full report as JSON')
    .option('--report <dir>', 'write report.html (charts, works offline) and report.json into this folder')
    .action(async (o) => {
      const [lo, hi] = o.severities as [number, number];
      const severities = Array.from({ length: hi - lo + 1 }, (_, i) => (lo + i) as Severity);
      if ((o.mix as string[] | undefined)?.includes('auto')) {
        // Auto vs the best mix with hindsight vs clean per condition, family and strength, and a changing stream (main/engine/auto/eval.ts).
        const auto = await evaluateAutoOnPack(o.pack ?? defaultPackDir(), {
          data: o.data,
          images: o.limit,
          conditions: o.conditions,
          families: o.families,
          strengths: severities,
          asIs: o.asIs,
          scope: o.autoBy,
          threads: o.threads,
          seed: o.seed,
        });
        console.log(autoReportMarkdown(auto));
        if (o.json) await writeFileAtomic(o.json, `${JSON.stringify(auto, null, 1)}\n`);
        return;
      }
      const report = await evaluatePack({
        pack: o.pack ?? defaultPackDir(),
        data: o.data,
        conditions: o.conditions,
        families: o.families,
        severities,
        mixes: o.mix,
        robust: o.robust,
        lofo: o.lofo,
        peers: o.peers,
        quantVariants: o.quantVariants,
        limit: o.limit,
        seed: o.seed,
        threads: o.threads,
        sweepSeverity: (severities.includes(3) ? 3 : severities[Math.floor(severities.length / 2)]) as Severity,
        progress: (line) => console.error(line),
      });
      console.log(reportText(report));
      const json = `${JSON.stringify(report, null, 1)}\n`;
      if (o.json) await writeFileAtomic(o.json, json);
      if (o.report) {
        await mkdir(o.report, { recursive: true });
        await writeFileAtomic(path.join(o.report, 'report.html'), await reportHtml(report));
        await writeFileAtomic(path.join(o.report, 'report.json'), json);
        console.error(`report: ${path.join(o.report, 'report.html')}`);
      }
    });
}
