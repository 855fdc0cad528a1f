import sharp from '../../engine/io/sharp.js';
import type { CommandArgs, ImageResult } from '../../api/contract.js';
import { CONDITIONS, corrupt } from '../../core/corruptions/index.js';
import { mixKey, ranUnderKey } from '../../core/mix.js';
import { blendOutputs } from '../../engine/auto/choice.js';
import { batchDims, topClasses, unitToBytes } from '../../core/tensors.js';
import { decodePixels, toTensor } from '../../engine/io/image-decode.js';
import type { Engine } from '../engine.js';
import { mixFromArgument } from './set-mix.js';

/**
 * Command `classifyFile`: one image through the clean model and the patched one (with `mix`, by
 * default the engine's), decoded as a folder run decodes it, optionally with a condition simulated
 * on it first; the image view of the app shows what it returns. The engine's own mix is back in
 * place when it resolves (the camera's next frame is unaffected).
 */
export async function classifyFile(engine: Engine, args: CommandArgs<'classifyFile'>): Promise<ImageResult> {
  const loaded = await engine.requirePack();
  const file = await engine.readable(args.file, 'file');
  const m = loaded.pack.manifest;
  const spec = m.input;
  const mix = args.mix === undefined ? undefined : mixFromArgument(engine, args.mix, 'mix');
  const blend = args.blend === undefined ? undefined : mixFromArgument(engine, args.blend, 'blend');
  const px = await decodePixels(file, spec, { name: args.file });
  let bytes = px.data;
  let simulated: string | undefined;
  if (args.simulate) {
    const s = args.simulate;
    const image = { width: spec.width, height: spec.height, channels: px.channels as 1 | 3, data: Float32Array.from(bytes, (v) => v / 255) };
    bytes = unitToBytes(corrupt(image, s.family ? `${s.condition}/${s.family}` : s.condition, s.severity, s.seed ?? 0).data);
    const name = CONDITIONS.find((c) => c.id === s.condition)?.name ?? s.condition;
    simulated = `${name}${s.family ? ` (${s.family})` : ''} · severity ${s.severity}`;
  }
  const input = toTensor(bytes, px.channels, spec);
  const dims = batchDims(spec, 1);
  const png = await sharp(Buffer.from(bytes), { raw: { width: spec.width, height: spec.height, channels: px.channels as 1 | 3 } }).png().toBuffer();
  const clean = await engine.cleanClassifier();
  const k = args.top ?? 5;
  return engine.exclusive(() =>
    engine.survive(loaded, async () => {
      const t0 = performance.now();
      const current = engine.mix;
      const use = mix ?? current;
      const other = mixKey(use) !== mixKey(current);
      if (other) await loaded.patched.setMix(use);
      let p: Float32Array;
      try {
        p = await loaded.patched.run(input.slice(), dims);
        if (blend) {
          await loaded.patched.setMix(blend);
          p = blendOutputs(p, await loaded.patched.run(input.slice(), dims), m.labels.length, m.output.kind);
        }
      } finally {
        if (other || blend) await loaded.patched.setMix(current);
      }
      const c = await clean.run(input, dims);
      const out: ImageResult = {
        file: args.file,
        patched: topClasses(p, m.labels, k, m.output.kind),
        clean: topClasses(c, m.labels, k, m.output.kind),
        mixKey: ranUnderKey(use, blend),
        input: { dataUrl: `data:image/png;base64,${png.toString('base64')}`, width: spec.width, height: spec.height },
        ms: performance.now() - t0,
      };
      if (simulated) out.simulated = simulated;
      return out;
    }),
  );
}
