import { RwsError } from '../../core/errors.js';
import type { CommandArgs, EvalCondition, EvalReport, FolderProgress } from '../../api/contract.js';
import type { Severity } from '../../core/corruptions/index.js';
import { accuracy, corruptedSet, EVAL_BATCH, evalTarget, type BatchRunner } from '../../engine/eval/corrupted-set.js';
import { modelBatchLimit } from '../../engine/folder/plan.js';
import { fashionMnistDir } from '../../engine/io/idx.js';
import { loadLabelledData } from '../../engine/io/labelled-data.js';
import type { Engine } from '../engine.js';

/**
 * Command `evaluate`: accuracy vs severity per condition, clean model vs the condition's patch, on
 * labelled images with the core's corruptions applied. The conditions, corrupted images and counts
 * are `rws eval`'s (engine/eval/corrupted-set.ts): same pack, data and seed, same numbers.
 * Progress counts images (each through both models), with a rate and an ETA; `cancelEvaluation`
 * stops it after the batch in hand.
 */
export async function evaluate(engine: Engine, args: CommandArgs<'evaluate'>): Promise<EvalReport> {
  const t0 = performance.now();
  const signal = engine.beginEvaluation();
  let progress: FolderProgress = { kind: 'eval', phase: 'starting', done: 0, failed: 0, total: null, rate: 0, eta: null };
  const tell = (change: Partial<FolderProgress>) => {
    progress = { ...progress, ...change };
    engine.setEvaluationProgress(progress);
  };
  tell({});
  let models: { dispose(): unknown }[] = [];
  try {
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
    const n = set.images.length;
    const total = n * (targets.length * severities.length + 1);
    const start = performance.now();
    let done = 0;
    /** A runner that counts the images it classified, and stops between batches once cancelled. */
    const counted = (r: BatchRunner, counts: boolean): BatchRunner => ({
      run: async (input, dims) => {
        if (signal.aborted) throw new RwsError('cancelled', 'evaluate: cancelled');
        const out = await r.run(input, dims);
        if (counts) {
          done += dims[0] ?? 1;
          const rate = done / Math.max(1e-3, (performance.now() - start) / 1000);
          tell({ phase: 'running', done, total, rate, eta: (total - done) / rate });
        }
        return out;
      },
    });
    const clean = await engine.makePatched(loaded, () => false);
    models.push(clean);
    const patched = await engine.makePatched(loaded);
    models.push(patched);
    const classes = m.labels.length;
    tell({ phase: 'running', total });
    const cleanAccuracy = await accuracy(counted(clean, true), corruptedSet(set.images, set.labels, m.input, [], 1, seed, batch), classes);
    const out: EvalCondition[] = [];
    for (const c of targets) {
      await patched.setMix(c.mix);
      const points = [];
      for (const severity of severities) {
        const corrupted = corruptedSet(set.images, set.labels, m.input, c.corruptions, severity, seed, batch);
        points.push({ severity, clean: await accuracy(counted(clean, false), corrupted, classes), patched: await accuracy(counted(patched, true), corrupted, classes) });
      }
      out.push({ id: c.id, name: c.name, mix: c.mix, points });
    }
    tell({ phase: 'done', done: total, eta: 0 });
    return { data: set.source, samples: n, cleanAccuracy, conditions: out, ms: performance.now() - t0 };
  } catch (e) {
    const cancelled = signal.aborted;
    tell({ phase: cancelled ? 'stopped' : 'failed', eta: null, message: cancelled ? 'cancelled' : (e as Error).message });
    throw cancelled ? new RwsError('cancelled', 'evaluate: cancelled; nothing was measured to the end') : e;
  } finally {
    for (const x of models) await Promise.resolve(x.dispose()).catch(() => undefined);
    models = [];
    engine.endEvaluation();
  }
}
