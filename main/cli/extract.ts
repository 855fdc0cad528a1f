import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { encodeSignature } from '../core/signature-codec.js';
import type { Quantization } from '../core/signature.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { extractSignature } from '../engine/signatures/extract.js';
import { formatBytes, numberIn, parseLayers, parseSeverityRange } from './options.js';

/** Registers `rws extract`: make a signature from a clean/robust model pair. */
export function register(program: Command): void {
  program
    .command('extract')
    .description('make a Robust Weight Signature from a clean and a robust model of the same graph')
    .requiredOption('--clean <file>', 'the clean model (.onnx)')
    .requiredOption('--robust <file>', 'the model fine-tuned on the condition (.onnx)')
    .option('--pre <file>', 'the common starting weights θ_pre: use the paper\'s projection instead of the plain difference')
    .requiredOption('--condition <name>', 'the condition the robust model was trained for (e.g. fog)')
    .option('--id <id>', 'signature id (default: the condition)')
    .option('--layers <k|auto|names>', 'keep the first k layers; auto: the fewest leading layers holding --energy of the delta; or layer names/patterns, comma-separated, matched against node and tensor names (`*` any characters), e.g. "/features/0/*,/features/1/*"', parseLayers, 'auto' as number | 'auto' | string[])
    .option('--energy <share>', 'share of the delta\'s energy the signature should keep: below it extraction warns, naming what it dropped, and --layers auto refuses', numberIn(0.01, 1), 0.95)
    .option('--quant <q>', 'storage: int8, int4, f16 or f32', 'int8')
    .option('--severity <range>', 'severities it was made for, e.g. 1-5', parseSeverityRange)
    .option('--method <m>', 'label a plain difference as a shallow fine-tune: finetune')
    .option('--description <text>', 'free text stored in the signature')
    .requiredOption('--out <file>', 'output signature (.rws.safetensors)')
    .action(async (o) => {
      if (!['int8', 'int4', 'f16', 'f32'].includes(o.quant)) {
        program.error(`error: option '--quant <q>' argument '${o.quant}' is invalid: expected int8, int4, f16 or f32`, { exitCode: 2 });
      }
      if (o.method !== undefined && o.method !== 'finetune' && o.method !== 'plain') {
        program.error(`error: option '--method <m>' argument '${o.method}' is invalid: expected finetune or plain`, { exitCode: 2 });
      }
      const ex = await extractSignature({
        clean: o.clean,
        robust: o.robust,
        pre: o.pre,
        condition: o.condition,
        id: o.id,
        layers: o.layers,
        energyShare: o.energy,
        quant: o.quant as Quantization,
        severity: o.severity,
        method: o.method,
        description: o.description,
      });
      for (const w of ex.warnings) console.warn(`warning: ${w}`);
      const bytes = encodeSignature(ex.signature, o.quant as Quantization);
      await writeFileAtomic(o.out, bytes);
      const modelSize = (await stat(o.clean)).size;
      const m = ex.signature.meta;
      console.log(`signature "${m.id}" (${m.condition}, ${m.method}${o.pre ? ', projected on θ_pre' : ''}) → ${o.out}`);
      const how = o.layers === 'auto' ? `auto, ≥ ${(o.energy * 100).toFixed(0)}% of energy` : Array.isArray(o.layers) ? `by name: ${o.layers.join(',')}` : 'fixed';
      console.log(`kept ${m.layers} of ${ex.layerEnergies.length} layers (${how}):`);
      for (const l of ex.kept) {
        console.log(`  layer ${l.index} ${l.op} ${l.node}`);
        for (const t of l.tensors) console.log(`    ${t.name}  [${t.shape.join('×')}]${t.mode === 'log' ? '  (log-variance)' : ''}`);
      }
      const params = ex.signature.tensors.reduce((s, t) => s + t.values.length, 0);
      console.log(`energy share kept: ${(ex.share * 100).toFixed(2)}%`);
      console.log(`size: ${formatBytes(bytes.length)} (${o.quant}, ${params} values), model ${formatBytes(modelSize)}: ${(modelSize / bytes.length).toFixed(1)}× smaller`);
    });
}
