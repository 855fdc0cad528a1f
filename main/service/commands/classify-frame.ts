import { RwsError } from '../../core/errors.js';
import type { CommandArgs, FrameResult } from '../../api/contract.js';
import { packCandidates } from '../../engine/auto/choice.js';
import { createChooser, type AutoChooser } from '../../engine/auto/chooser.js';
import { AutoMix, imagesFromInput } from '../../engine/auto/mix.js';
import { toTensor } from '../../engine/io/image-decode.js';
import { mixKey } from '../../core/mix.js';
import type { Engine } from '../engine.js';
import type { LoadedPack } from '../models.js';
import type { AutoChoice } from '../../engine/auto/choice.js';
import type { ConditionMix } from '../../core/signature.js';
import { batchDims, topClasses as topK, unitToBytes } from '../../core/tensors.js';

/** Auto's state per loaded pack: a new pack starts again from the clean model. */
const autos = new WeakMap<LoadedPack, AutoChooser>();

/** The stream chooser for a pack: its mixes, judged by the model's outputs; its classifier (if any) proposes. */
function streamChooser(loaded: LoadedPack): AutoChooser {
  const m = loaded.pack.manifest;
  const available = loaded.info.signatures.filter((s) => s.available).map((s) => s.id);
  const recogniser = m.autoMix?.classifier ? AutoMix.fromPack(m, { available }, `${loaded.pack.dir}/pack.json`) : undefined;
  // Exploring runs patch the model directly: only the mix in force is published to the UI. The mix
  // in force is set again before every frame; where the model says which mix it holds, that is
  // skipped (with the inference worker it is a round trip, a large share of a small model's frame).
  const runner = {
    setMix: (mix: ConditionMix) => (loaded.patched.mix && mixKey(loaded.patched.mix) === mixKey(mix) ? Promise.resolve() : loaded.patched.setMix(mix)),
    run: (x: Float32Array, d: number[]) => loaded.patched.run(x, d),
  };
  return createChooser('stream', runner, packCandidates(m, available), { classes: m.labels.length, kind: m.output.kind, recogniser });
}

/** Command `classifyFrame`: one camera frame (already at the model's size, HWC bytes or 0..1) through the patched model, and the clean one when comparing. */
export async function classifyFrame(engine: Engine, args: CommandArgs<'classifyFrame'>): Promise<FrameResult> {
  const loaded = await engine.requirePack();
  const spec = loaded.pack.manifest.input;
  if (args.width !== spec.width || args.height !== spec.height) {
    throw new RwsError('frame-size', `classifyFrame: the frame is ${args.width}×${args.height}, the model takes ${spec.width}×${spec.height}`, { field: 'width' });
  }
  // Same 8-bit path as decoded files, so a frame and a saved snapshot of it classify alike.
  const px = args.data instanceof Uint8Array ? args.data : unitToBytes(args.data);
  const input = toTensor(px, args.channels, spec);
  const dims = batchDims(spec, 1);
  const k = args.top ?? 5;
  const labels = loaded.pack.manifest.labels;
  const kind = loaded.pack.manifest.output.kind;
  const clean = args.compare ? await engine.cleanClassifier() : undefined;
  let auto = args.auto ? autos.get(loaded) : undefined;
  if (args.auto && !auto) autos.set(loaded, (auto = streamChooser(loaded)));
  const result = await engine.exclusive(() => engine.survive(loaded, async () => {
    const t0 = performance.now();
    let p: Float32Array;
    let choice: AutoChoice | undefined;
    let key = mixKey(engine.mix);
    if (auto) {
      // Auto follows the frames; the engine's mix (what the UI shows) follows Auto.
      const r = await auto.run(input, dims, () => imagesFromInput(input, dims, spec));
      [p, choice] = [r.scores, r.choices[0]!];
      key = mixKey(choice.mix);
      if (key !== mixKey(engine.mix)) await engine.useMix(loaded, choice.mix);
    } else {
      p = await loaded.patched.run(input, dims);
    }
    const c = clean ? await clean.run(input.slice(), dims) : undefined;
    const out: FrameResult = { patched: topK(p, labels, k, kind), ms: performance.now() - t0, mixKey: key };
    if (c) out.clean = topK(c, labels, k, kind);
    if (choice) out.auto = { id: choice.id, severity: choice.severity, confidence: choice.confidence, switched: choice.switched };
    return out;
  }));
  // After this frame's reply has gone out (a macrotask later), not in the microtasks before it.
  if (auto?.explore) setImmediate(() => exploreAfter(engine, loaded, auto));
  return result;
}

/**
 * Auto's look at the frame just shown and its check of a challenger, queued behind it (a camera's
 * next frame comes ~33 ms later), so they do not add to the frame's time; a switch it decides becomes the
 * engine's mix (what the UI shows) and acts from the next frame.
 */
function exploreAfter(engine: Engine, loaded: LoadedPack, auto: AutoChooser): void {
  engine
    .exclusive(() =>
      engine.survive(loaded, async () => {
        if (engine.loaded !== loaded) return;
        const mix = await auto.explore!();
        if (mix && mixKey(mix) !== mixKey(engine.mix)) await engine.useMix(loaded, mix);
      }),
    )
    // A failed check is only a lost pair of outputs: the next frame runs on the same model and
    // reports its error (a crashed worker has already been remade and announced by survive).
    .catch(() => undefined);
}
