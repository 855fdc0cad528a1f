// Whether a pack's description of its model holds: the input spec against itself (colours,
// channels, value range and normalisation) and against the model (names, layout, size, element
// type), the output name and the label count. A pack that lies about its model is refused here,
// naming the field, instead of giving onnxruntime's raw error or silently wrong scores.
import { RwsError } from '../../core/errors.js';
import type { OnnxModel } from '../onnx/model.js';
import { DataType } from '../onnx/onnx-proto.js';

/** The parts of pack.json's `input` checked here (pack.ts's InputSpec; kept apart so pack.ts can call these). */
interface InputSpec {
  name: string;
  layout: 'NCHW' | 'NHWC';
  width: number;
  height: number;
  channels: 1 | 3;
  colorSpace: 'grey' | 'rgb' | 'bgr';
  range: [number, number];
  mean: number[];
  std: number[];
  resize: 'fill' | 'contain' | 'cover';
  shorterSide?: number;
}

/** The parts of a manifest checked against the model. */
interface PackModelSpec {
  model: string;
  input: InputSpec;
  output: { name: string };
  labels: string[];
}

function fail(file: string, field: string, why: string): never {
  throw new RwsError('pack-field', `${file}: field "${field}": ${why}`, { file, field });
}

function list(values: readonly number[]): string {
  return `[${values.join(', ')}]`;
}

/**
 * The input spec's own consistency: colour space against channels, one mean and std (or one per
 * channel), a range that goes up, a mean and std in the range's units, and a crop that fits.
 * `where` names the file (or command) and `f` names a field there (`input.mean` in pack.json,
 * `--mean` on a command line).
 */
export function checkInputSpec(spec: InputSpec, where: string, f: (field: string) => string = (name) => `input.${name}`): void {
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

/** The model's input and output dims as text, for messages. */
function dimsText(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}

const FEEDABLE = new Set<number>([DataType.FLOAT]);

/**
 * The manifest against its model: `input.name` is one of the model's inputs, of float32, with the
 * layout, channels, height and width the manifest says (where the model fixes them); `output.name`
 * is one of its outputs, and a fixed class count equals the number of labels.
 */
export function checkPackModel(manifest: PackModelSpec, model: OnnxModel, file: string): void {
  const spec = manifest.input;
  const input = model.inputs.find((i) => i.name === spec.name);
  if (!input) fail(file, 'input.name', `${manifest.model} has no input "${spec.name}" (its inputs: ${model.inputs.map((i) => i.name).join(', ') || 'none'})`);
  if (!FEEDABLE.has(input.elemType)) {
    fail(file, 'input.name', `${manifest.model}'s input "${spec.name}" takes element type ${input.elemType}, not float32; rws feeds float32 images`);
  }
  const d = input.dims;
  if (d.length !== 4) fail(file, 'input.name', `${manifest.model}'s input "${spec.name}" has shape ${dimsText(d)}, not an image batch [N, C, H, W] or [N, H, W, C]`);
  const [c, h, w] = spec.layout === 'NCHW' ? [d[1], d[2], d[3]] : [d[3], d[1], d[2]];
  const fixed = (v: number | string | undefined): v is number => typeof v === 'number' && v > 0;
  if (fixed(c) && c !== spec.channels) {
    const other = spec.layout === 'NCHW' ? d[3] : d[1];
    if (fixed(other) && other === spec.channels) {
      fail(file, 'input.layout', `"${spec.layout}", but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)}: its channels come ${spec.layout === 'NCHW' ? 'last (NHWC)' : 'second (NCHW)'}`);
    }
    fail(file, 'input.channels', `${spec.channels}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): ${c} channels`);
  }
  if (fixed(h) && h !== spec.height) fail(file, 'input.height', `${spec.height}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): height ${h}`);
  if (fixed(w) && w !== spec.width) fail(file, 'input.width', `${spec.width}, but ${manifest.model}'s input "${spec.name}" is ${dimsText(d)} (${spec.layout}): width ${w}`);
  const output = model.outputs.find((o) => o.name === manifest.output.name);
  if (!output) fail(file, 'output.name', `${manifest.model} has no output "${manifest.output.name}" (its outputs: ${model.outputs.map((o) => o.name).join(', ')})`);
  const classes = output.dims[output.dims.length - 1];
  if (fixed(classes) && classes !== manifest.labels.length) {
    fail(file, 'labels', `${manifest.labels.length} labels, but ${manifest.model}'s output "${output.name}" ${dimsText(output.dims)} has ${classes} classes`);
  }
}
