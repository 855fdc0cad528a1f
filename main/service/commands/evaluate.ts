import { RwsError } from '../../core/errors.js';
import type { CommandArgs, EvalCondition, EvalReport, FolderProgress } from '../../api/contract.js';
import { CONDITIONS, corrupt, type Image, type Severity } from '../../core/corruptions/index.js';
import { toTensor } from '../../engine/io/image-decode.js';
import type { Engine } from '../engine.js';
import type { Classifier } from '../models.js';
import { loadLabelledData } from '../../engine/io/labelled-data.js';
import { fashionMnistDir } from '../../engine/io/idx.js';

const BATCH = 64;

/** Top-1 accuracy of a classifier over images. */
async function accuracy(c: Classifier, images: Image[], labels: number[], engine: Engine, classes: number): Promise<number> {
  const spec = engine.loaded!.pack.manifest.input;
  const per = spec.width * spec.height * spec.channels;
  let right = 0;
  for (let start = 0; start < images.length; start += BATCH) {
    const part = images.slice(start, start + BATCH);
    const input = new Float32Array(part.length * per);
    part.forEach((im, i) => {
      const px = Uint8Array.from(im.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
      input.set(toTensor(px, im.channels, spec), i * per);
    });
    const dims = spec.layout === 'NCHW' ? [part.length, spec.channels, spec.height, spec.width] : [part.length, spec.height, spec.width, spec.channels];
    const out = await c.run(input, dims);
    for (let i = 0; i < part.length; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if (out[i * classes + k]! > out[i * classes + best]!) best = k;
      if (best === labels[start + i]) right++;
    }
  }
  return images.length ? right / images.length : 0;
}

/**
 * Command `evaluate`: accuracy vs severity per condition, clean model vs the condition's patch, on
 * labelled images with the core's corruptions applied (the same ones the signatures were made for).
 */
export async function evaluate(engine: Engine, args: CommandArgs<'evaluate'>): Promise<EvalReport> {
  const t0 = performance.now();
  const loaded = await engine.requirePack();
  const m = loaded.pack.manifest;
  const dataDir = args?.data ? await engine.readable(args.data, 'data') : fashionMnistDir();
  const limit = args?.limit ?? 200;
  const set = await loadLabelledData(dataDir, m.input, m.labels, limit);
  const known = new Set(CONDITIONS.map((c) => c.id));
  const usable = new Set(loaded.info.signatures.filter((s) => s.available).map((s) => s.id));
  const wanted = args?.conditions ?? m.conditions.map((c) => c.id);
  const conditions = wanted.map((id) => {
    const named = m.conditions.find((c) => c.id === id);
    const mix = named ? named.mix : usable.has(id) ? { [id]: 1 } : undefined;
    if (!mix) throw new RwsError('eval-condition', `evaluate: "${id}" is not a condition of pack "${m.id}"`, { field: 'conditions' });
    // The corruption to simulate: the condition's own id, else its signature's condition.
    const corruption = known.has(id) ? id : loaded.info.signatures.find((s) => s.id in mix && known.has(s.condition))?.condition;
    if (!corruption) throw new RwsError('eval-condition', `evaluate: no simulated corruption for condition "${id}"`, { field: 'conditions' });
    for (const sid of Object.keys(mix)) if (!usable.has(sid)) throw new RwsError('signature-missing', `evaluate: signature "${sid}" of condition "${id}" is not available`, { field: 'conditions' });
    return { id, name: named?.name ?? id, mix, corruption };
  });
  const severities = (args?.severities ?? [1, 2, 3, 4, 5]) as Severity[];
  const seed = args?.seed ?? 0;
  const total = conditions.length * severities.length + 1;
  let step = 0;
  const tick = (phase: FolderProgress['phase']) =>
    engine.events.emit('progress', { kind: 'eval', phase, done: step, failed: 0, total, rate: step / Math.max(1e-3, (performance.now() - t0) / 1000), eta: null });
  const clean = await engine.makePatched(loaded, () => false);
  const patched = await engine.makePatched(loaded);
  const classes = m.labels.length;
  try {
    tick('running');
    const cleanAccuracy = await accuracy(clean, set.images, set.labels, engine, classes);
    step++;
    const out: EvalCondition[] = [];
    for (const c of conditions) {
      await patched.setMix(c.mix);
      const points = [];
      for (const severity of severities) {
        const corrupted = set.images.map((im, i) => corrupt(im, c.corruption, severity, seed + i));
        points.push({
          severity,
          clean: await accuracy(clean, corrupted, set.labels, engine, classes),
          patched: await accuracy(patched, corrupted, set.labels, engine, classes),
        });
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
