// pack.json's `input`: how an image becomes the model's input (size, layout, colours, value range,
// normalisation, resize), its schema, and its own consistency. Shared by packs, `rws pack init`
// and `rws run --model`; docs/pack-json.md describes each field.
import { z } from 'zod';
import { fail } from './field-error.js';
import { MAX_INPUT_MAGNITUDE, MAX_INPUT_SIDE } from '../../core/limits.js';

/** A normalisation number whose float32 inputs stay finite (README: Limits). */
const bounded = z.number().min(-MAX_INPUT_MAGNITUDE).max(MAX_INPUT_MAGNITUDE);
/** A side in pixels, within what one decoded image may take (README: Limits). */
const side = z.number().int().positive().max(MAX_INPUT_SIDE, `at most ${MAX_INPUT_SIDE} pixels (the limit on a model's input)`);

export const InputSpecSchema = z.object({
  /** Name of the model's input tensor. */
  name: z.string().min(1),
  layout: z.enum(['NCHW', 'NHWC']),
  width: side,
  height: side,
  channels: z.union([z.literal(1), z.literal(3)]),
  colorSpace: z.enum(['grey', 'rgb', 'bgr']),
  /** Pixel values are scaled to this range before mean/std: [0, 1] or [0, 255]. */
  range: z.tuple([bounded, bounded]),
  /** One value for every channel, or one per channel (std likewise). */
  mean: z.array(bounded).min(1).max(3),
  std: z.array(z.number().min(1 / MAX_INPUT_MAGNITUDE).max(MAX_INPUT_MAGNITUDE)).min(1).max(3),
  /** `fill` stretches, `contain` letterboxes, `cover` crops the centre. */
  resize: z.enum(['fill', 'contain', 'cover']),
  /** With `cover`: scale the shorter side to this many pixels first, then cut out the centre (torchvision's Resize(256) + CenterCrop(224)). */
  shorterSide: side.optional(),
});

export type InputSpec = z.infer<typeof InputSpecSchema>;

export { fail };

function list(values: readonly number[]): string {
  return `[${values.join(', ')}]`;
}

/**
 * The input spec's own consistency: the schema's limits, colour space against channels, one mean
 * and std (or one per channel), a range that goes up, a mean and std in the range's units, and a
 * crop that fits.
 * `where` names the file (or command) and `f` names a field there (`input.mean` in pack.json,
 * `--mean` on a command line).
 */
export function checkInputSpec(spec: InputSpec, where: string, f: (field: string) => string = (name) => `input.${name}`): void {
  // A spec made from flags (pack init, run --model) is held to the schema's limits like pack.json.
  const parsed = InputSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(where, f(String(issue.path[0] ?? '')), issue.message);
  }
  if (spec.channels === 3 && spec.colorSpace === 'grey') fail(where, f('colorSpace'), '"grey" with 3 channels: a grey image fills one channel; use "rgb" (or "bgr"), or channels 1');
  if (spec.channels === 1 && spec.colorSpace !== 'grey') fail(where, f('colorSpace'), `"${spec.colorSpace}" with 1 channel: use "grey", or channels 3`);
  for (const key of ['mean', 'std'] as const) {
    const n = spec[key].length;
    if (n !== 1 && n !== spec.channels) fail(where, f(key), `${n} values for ${spec.channels} channel${spec.channels === 1 ? '' : 's'}: give one, or one per channel`);
  }
  const [lo, hi] = spec.range;
  if (!(hi > lo)) fail(where, f('range'), `${list(spec.range)} must go up, like [0, 1] or [0, 255]`);
  const span = hi - lo;
  // ImageNet's mean in 0-255 units (123.7, 116.3, 103.5) with a 0-1 range, or the other way round,
  // shifts every input by hundreds of standard deviations: the model sees noise, and says nothing.
  if (span <= 2 && spec.mean.some((m) => Math.abs(m) > 2 * span)) {
    fail(where, f('mean'), `${list(spec.mean)} is in 0-255 units but ${f('range')} is ${list(spec.range)}: give the mean in the range's units (divide by 255), or set the range to [0, 255]`);
  }
  if (span <= 2 && spec.std.some((s) => s > 2 * span)) {
    fail(where, f('std'), `${list(spec.std)} is in 0-255 units but ${f('range')} is ${list(spec.range)}: give the std in the range's units (divide by 255), or set the range to [0, 255]`);
  }
  if (span > 2 && spec.std.every((s) => s < 1)) {
    fail(where, f('std'), `${list(spec.std)} is in 0-1 units but ${f('range')} is ${list(spec.range)}: multiply the mean and std by 255, or set the range to [0, 1]`);
  }
  if (spec.shorterSide !== undefined) {
    if (spec.resize !== 'cover') fail(where, f('shorterSide'), `only applies to resize "cover" (scale the shorter side to it, then cut out the centre), not "${spec.resize}"`);
    if (spec.shorterSide < Math.max(spec.width, spec.height)) {
      fail(where, f('shorterSide'), `${spec.shorterSide} is smaller than the ${spec.width}×${spec.height} crop it is cut from`);
    }
  }
}

