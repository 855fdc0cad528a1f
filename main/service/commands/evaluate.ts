import type { CommandArgs, EvalCondition, EvalReport, FolderProgress } from '../../api/contract.js';
import type { Severity } from '../../core/corruptions/index.js';
import { accuracy, corruptedSet, EVAL_BATCH, evalTarget } from '../../engine/eval/corrupted-set.js';
import { modelBatchLimit } from '../../engine/folder/plan.js';
import { fashionMnistDir } from '../../engine/io/idx.js';
import { loadLabelledData } from '../../engine/io/labelled-data.js';
import type { Engine } from '../engine.js';

/**
 * Command `evaluate`: accuracy vs severity per condition, clean model vs the condition's patch, on
 * labelled images with the core's corruptions applied. The conditions, corrupted images and counts
 * are `rws eval`'s (engine/eval/corrupted-set.ts): same pack, data and seed, same numbers.
 */
export async function evaluate(engine: Engine, args: CommandArgs<'evaluate'>): Promise<EvalReport> {
  const t0 = performance.now();
  const loaded = await engine.requirePack();
  const m = loaded.pack.manifest;
  const dataDir = args?.data ? await engine.readable(args.data, 'data') : fashionMnistDir();
  const limit = args?.limit ?? 200;
  const set = await loadLabelledData(dataDir, m.input, m.labels, limit);
  const conditionOf = (sid: string) => loaded.info.signatures.find((s) => s.id === sid && s.available)?.condition;
  const targets = (args?.conditions ?? m.conditions.map((c) => c.id)).map((id) => evalTarget(m, id, conditionOf, 'evaluate'));
  const severities = (args?.severities ?? [1, 2, 3, 4, 5]) as Severity[];
  const seed = args?.seed ?? 0;
  const batch = Math.min(EVAL_BATCH, await modelBatchLimit(loaded.pack.modelPath));
  const total = targets.length * severities.length + 1;
  let step = 0;
  const tick = (phase: FolderProgress['phase']) =>
    engine.events.emit('progress', { kind: 'eval', phase, done: step, failed: 0, total, rate: step / Math.max(1e-3, (performance.now() - t0) / 1000), eta: null });
  const clean = await engine.makePatched(loaded, () => false);
  const patched = await engine.makePatched(loaded);
  const classes = m.labels.length;
  try {
    tick('running');
    const cleanAccuracy = await accuracy(clean, corruptedSet(set.images, set.labels, m.input, [], 1, seed, batch), classes);
    step++;
    const out: EvalCondition[] = [];
    for (const c of targets) {
      await patched.setMix(c.mix);
      const points = [];
      for (const severity of severities) {
        const corrupted = corruptedSet(set.images, set.labels, m.input, c.corruptions, severity, seed, batch);
        points.push({ severity, clean: await accuracy(clean, corrupted, classes), patched: await accuracy(patched, corrupted, classes) });
        step++;
        tick('running');
      }
      out.push({ id: c.id, name: c.name, mix: c.mix, points });
    }
    tick('done');
    return { data: set.source, samples: set.images.length, cleanAccuracy, conditions: out, ms: performance.now() - t0 };
  } catch (e) {
    tick('failed');
    throw e;
  } finally {
    await clean.dispose();
    await patched.dispose();
  }
}
