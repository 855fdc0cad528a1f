import type { Command } from 'commander';
import { RwsError } from '../core/errors.js';
import type { Signature } from '../core/signature.js';
import { WeightPatch } from '../core/weight-patch.js';
import { writeFileAtomic } from '../engine/atomic-file.js';
import { loadOnnx } from '../engine/onnx/model.js';
import { assertFits, readSignature } from '../engine/signature-fit.js';
import { assertTrustedFile } from '../engine/trust.js';
import { collect, parseSignatureArg } from './options.js';

/** Registers `rws patch`: export a model with signatures baked in, loadable by any ONNX runtime. */
export function register(program: Command): void {
  program
    .command('patch')
    .description('write a copy of a model with signatures added to its weights (θ = θ_clean + Σ α·RWS)')
    .requiredOption('--model <file>', 'the clean model (.onnx)')
    .requiredOption('--signature <file[=α]>', 'a signature and its strength (default 1); repeatable', collect, [] as string[])
    .option('--force', 'apply signatures made for another base model (transfer), with a warning')
    .requiredOption('--out <file>', 'the patched model (.onnx)')
    .action(async (o) => {
      await assertTrustedFile(o.model);
      const model = await loadOnnx(o.model);
      const sigs = new Map<string, Signature>();
      const mix: Record<string, number> = {};
      const args = (o.signature as string[]).map(parseSignatureArg);
      for (const [i, { file, alpha }] of args.entries()) {
        const sig = await readSignature(file);
        for (const w of assertFits(model, sig, file, Boolean(o.force))) console.warn(`warning: ${w}`);
        const key = `s${i}`;
        sigs.set(key, sig);
        mix[key] = alpha;
      }
      if (sigs.size === 0) throw new RwsError('usage-signature', '--signature: give at least one signature file');
      const patched = new WeightPatch(new Map([...new Set([...sigs.values()].flatMap((s) => s.tensors.map((t) => t.name)))].map((n) => [n, model.floats(n)])), sigs).tensorsFor(mix);
      for (const [name, values] of patched) model.setFloats(name, values);
      await writeFileAtomic(o.out, model.encode());
      const desc = args.map((a, i) => `${sigs.get(`s${i}`)!.meta.id}=${a.alpha}`).join(', ');
      console.log(`patched ${patched.size} tensors of ${o.model} with ${desc} → ${o.out}`);
    });
}
