import { RwsError } from '../../core/errors.js';
import type { CommandArgs, FrameResult } from '../../api/contract.js';
import { AutoMix, imagesFromInput } from '../../engine/auto/mix.js';
import { toTensor } from '../../engine/io/image-decode.js';
import { mixKey } from '../../core/mix.js';
import type { Engine } from '../engine.js';
import type { LoadedPack } from '../models.js';
import { batchDims, topClasses as topK, unitToBytes } from '../../core/tensors.js';

/** Auto's state per loaded pack: a new pack starts again from the clean model. */
const autos = new WeakMap<LoadedPack, AutoMix>();

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
  if (args.auto && !auto) {
    const available = loaded.info.signatures.filter((s) => s.available).map((s) => s.id);
    auto = AutoMix.fromPack(loaded.pack.manifest, { available }, `${loaded.pack.dir}/pack.json`);
    autos.set(loaded, auto);
  }
  return engine.exclusive(() => engine.survive(loaded, async () => {
    const t0 = performance.now();
    // Auto follows the frames: a new choice patches the model before this frame runs.
    const choice = auto?.observe(imagesFromInput(input, dims, spec));
    if (choice && mixKey(choice.mix) !== mixKey(engine.mix)) {
      await engine.useMix(loaded, choice.mix);
    }
    const key = mixKey(engine.mix);
    const [p, c] = await Promise.all([loaded.patched.run(input, dims), clean?.run(input.slice(), dims)]);
    const out: FrameResult = { patched: topK(p, labels, k, kind), ms: performance.now() - t0, mixKey: key };
    if (c) out.clean = topK(c, labels, k, kind);
    if (choice) out.auto = { id: choice.id, severity: choice.severity, confidence: choice.confidence, switched: choice.switched };
    return out;
  }));
}
