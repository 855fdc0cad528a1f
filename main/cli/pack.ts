import { type Command } from 'commander';
import path from 'node:path';
import { addSignatures, initPack, type PackInitOptions } from '../engine/packs/pack-init.js';
import type { PresetName } from '../engine/packs/presets.js';
import { formatBytes, inputFlags, oneOf, positiveInt } from './options.js';
import { described } from './commands.js';

function sourceNote(sources: Record<string, string>, field: string): string {
  return sources[field] ? ` (${sources[field]})` : '';
}

/** Registers `rws pack init` and `rws pack add-signature`: make a pack for your own model. */
export function register(program: Command): void {
  const pack = program.command('pack').description(described('pack'));

  inputFlags(
    pack
      .command('init')
      .description('make a pack folder for an ONNX image classifier: pack.json written from the model, the model copied in, checked on a generated image')
      .argument('<model>', 'the model (.onnx)')
      .requiredOption('--out <dir>', 'the pack folder to write (new or empty)')
      .option('--labels <file>', 'class names, one per line in output order (or a JSON array); their count must match the output')
      .option('--name <name>', 'the pack\'s display name (default: the model file\'s name)')
      .option('--id <id>', 'the pack\'s id (default: from the name)')
      .option('--version <version>', 'the pack\'s version', '1.0.0')
      .option('--input <name>', 'the model input to feed (default: its image input)')
      .option('--output <name>', 'the model output holding the class scores (default: its first)')
      .option('--output-kind <kind>', 'logits (a softmax is applied) or probabilities', oneOf(['logits', 'probabilities'] as const))
      .option('--layout <layout>', 'NCHW or NHWC (default: read from the input\'s shape)', oneOf(['NCHW', 'NHWC'] as const))
      .option('--width <n>', 'input width, for a model whose size is free', positiveInt)
      .option('--height <n>', 'input height, for a model whose size is free', positiveInt),
  )
    .option('--force', 'write into a folder that is not empty (replacing its pack.json and model.onnx)')
    .action(async (model: string, o: Omit<PackInitOptions, 'model'> & { preset?: PresetName }) => {
      const r = await initPack({ ...o, model });
      for (const w of r.warnings) console.warn(`warning: ${w}`);
      const m = r.manifest;
      const i = m.input;
      const s = r.sources;
      console.log(`pack "${m.id}" (${m.name} ${m.version}) → ${path.join(r.dir, 'pack.json')}`);
      console.log(`  model    ${path.join(r.dir, m.model)} (copied from ${r.model.file}, ${formatBytes(r.model.bytes)}, SHA-256 ${r.model.sha256.slice(0, 12)}…)`);
      console.log(`  input    "${i.name}" ${r.model.inputType} [${r.model.inputDims.join(', ')}]: ${i.layout}, batch ${r.model.batch === 'dynamic' ? 'dynamic' : `fixed at ${r.model.batch}`}`);
      console.log(`           ${i.width}×${i.height}${sourceNote(s, 'width')}, ${i.channels} channel${i.channels === 1 ? '' : 's'} ${i.colorSpace}${sourceNote(s, 'colorSpace')}`);
      console.log(`           values ${i.range[0]}-${i.range[1]}${sourceNote(s, 'range')}, mean [${i.mean.join(', ')}]${sourceNote(s, 'mean')}, std [${i.std.join(', ')}]${sourceNote(s, 'std')}`);
      console.log(`           resize ${i.resize}${i.shorterSide ? `: shorter side to ${i.shorterSide}, then the centre ${i.width}×${i.height}` : ''}${sourceNote(s, 'resize')}`);
      console.log(`  output   "${m.output.name}" [${r.model.outputDims.join(', ')}] as ${m.output.kind}`);
      console.log(`  labels   ${m.labels.length}${o.labels ? ` from ${o.labels}` : ' (numbered)'}: ${m.labels.slice(0, 5).join(', ')}${m.labels.length > 5 ? ', …' : ''}`);
      console.log(`  checked  a generated ${r.validation.width}×${r.validation.height} test image ran through the model: ${r.validation.scores} ${r.validation.finite ? 'finite' : 'NOT finite'} scores`);
      console.log('check (the model cannot tell these):');
      for (const c of r.checks) console.log(`  - ${c}`);
      console.log(`next: rws train --pack ${r.dir} --data IMAGES --condition fog (needs PyTorch), or rws pack add-signature ${r.dir} SIGNATURE.rws.safetensors`);
    });

  pack
    .command('add-signature')
    .description('add signatures to a pack: id, condition and hashes from each signature\'s metadata, checked against the pack\'s model, copied into its signatures/ folder')
    .argument('<dir>', 'the pack folder')
    .argument('<signatures...>', 'signature files (.rws.safetensors)')
    .option('--transfer', 'the signatures were made on another base model (a fine-tune of the same weights): allow their hashes to differ')
    .action(async (dir: string, files: string[], o: { transfer?: boolean }) => {
      const added = await addSignatures(dir, files, o);
      for (const a of added) console.log(`${a.action} signature "${a.id}" (${a.condition}${a.transfer ? ', transfer' : ''}) → ${a.file}`);
      console.log(`${path.join(dir, 'pack.json')}: ${added.length} signature${added.length === 1 ? '' : 's'} listed; try: rws run --pack ${dir} --mix ${added[0]!.id}=1 IMAGES`);
    });
}
