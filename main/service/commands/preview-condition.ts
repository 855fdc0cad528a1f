import type { CommandArgs, ImageData01 } from '../../api/contract.js';
import { corrupt } from '../../core/corruptions/index.js';
import type { Engine } from '../engine.js';

/** Command `previewCondition`: the image with a simulated condition, by the same code as `rws corrupt` (any of its families). */
export async function previewCondition(_engine: Engine, args: CommandArgs<'previewCondition'>): Promise<ImageData01> {
  const im = args.image;
  const data = im.data instanceof Float32Array ? im.data : Float32Array.from(im.data);
  const out = corrupt({ width: im.width, height: im.height, channels: im.channels, data }, args.family ? `${args.condition}/${args.family}` : args.condition, args.severity, args.seed ?? 0);
  return { width: out.width, height: out.height, channels: out.channels, data: out.data };
}
