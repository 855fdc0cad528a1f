import type { Command } from 'commander';
import { RwsError } from '../core/errors.js';
import type { Signature } from '../core/signature.js';
import { WeightPatch } from '../core/weight-patch.js';
import { writeFileAtomic } from '../engine/io/atomic-file.js';
import { loadOnnx } from '../engine/onnx/model.js';
import { checkSignatures, readSignature } from '../engine/signatures/fit.js';
import { assertTrustedBytes } from '../engine/packs/trust.js';
import { readRegularFile, sha256Hex } from '../engine/io/regular-file.js';
import { MAX_MODEL_BYTES } from '../core/limits.js';
import { collect, parseSignatureArg } from './options.js';
import { described } from './commands.js';

/** Registers `rws patch`: export a model with signatures baked in, loadable by any ONNX runtime. */
export function register(program: Command): void {
  program
    .command('patch')
    .description(described('patch'))
    .requiredOption('--model <file>', 'the clean model (.onnx)')
    .requiredOption('--signature <file[=α]>', 'a signature and its strength (default 1); repeatable', collect, [] as string[])
    .option('--force', 'apply signatures made for another base model (transfer), with a warning')
    .requiredOption('--out <file>', 'the patched model (.onnx)')
    .action(async (o) => {
      // The model read once to check it, then held to those bytes.
      const bytes = await readRegularFile(o.model, { what: 'the model', code: 'onnx-read', maxBytes: MAX_MODEL_BYTES });
      await assertTrustedBytes(o.model, bytes);
      const model = await loadOnnx(o.model, { sha256: sha256Hex(bytes) });
      const sigs = new Map<string, Signature>();
      const mix: Record<string, number> = {};
      const args = (o.signature as string[]).map(parseSignatureArg);
      for (const [i, { file, alpha }] of args.entries()) {
        const key = sigs.has(file) ? `${file}#${i}` : file;
        sigs.set(key, await readSignature(file));
        mix[key] = alpha;
      }
      if (sigs.size === 0) throw new RwsError('usage-signature', '--signature: give at least one signature file');
      const warnings: string[] = [];
      const usable = checkSignatures(model, sigs, Boolean(o.force), warnings);
      for (const w of warnings) console.warn(`warning: ${w}`);
      const patched = new WeightPatch(new Map([...new Set([...usable.values()].flatMap((s) => s.tensors.map((t) => t.name)))].map((n) => [n, model.floats(n)])), usable).tensorsFor(mix);
      for (const [name, values] of patched) model.setFloats(name, values);
      await writeFileAtomic(o.out, model.encode());
      const desc = [...sigs.entries()].map(([key, sig]) => `${sig.meta.id}=${mix[key]}`).join(', ');
      console.log(`patched ${patched.size} tensors of ${o.model} with ${desc} → ${o.out}`);
    });
}
