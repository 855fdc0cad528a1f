// Preprocessing presets and the input spec read from a model's own input: what `rws pack init`
// writes into pack.json and what `rws run --model` uses, before the user's flags override it.
import { RwsError } from '../../core/errors.js';
import type { OnnxModel, ValueInfo } from '../onnx/model.js';
import { DataType } from '../onnx/data-type.js';
import type { InputSpec } from './input-spec.js';

/** Preprocessing presets by name. */
export const PRESETS = ['imagenet', 'none'] as const;
export type PresetName = (typeof PRESETS)[number];

/** torchvision's ImageNet normalisation (RGB, values 0-1). */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** torchvision's evaluation crop: Resize(256) then CenterCrop(224). */
const IMAGENET_CROP = 224 / 256;

/** The preprocessing fields of an input spec. */
export type Preprocessing = Pick<InputSpec, 'range' | 'mean' | 'std' | 'resize' | 'shorterSide'>;

/**
 * A preset for an input of `width`×`height` with `channels`: `imagenet` is torchvision's (values
 * 0-1, ImageNet mean and std, shorter side scaled to size/0.875 then the centre cut out: 256 then
 * 224), `none` is values 0-1 stretched to the input size.
 */
export function preset(name: PresetName, input: { width: number; height: number; channels: number }, where: string): Preprocessing {
  if (name === 'none') return { range: [0, 1], mean: [0], std: [1], resize: 'fill' };
  if (input.channels !== 3) throw new RwsError('usage-preset', `--preset imagenet: ${where} takes ${input.channels}-channel images; the ImageNet preset is for RGB (3 channels)`, { field: '--preset' });
  return {
    range: [0, 1],
    mean: IMAGENET_MEAN.slice(),
    std: IMAGENET_STD.slice(),
    resize: 'cover',
    shorterSide: Math.round(Math.max(input.width, input.height) / IMAGENET_CROP),
  };
}

/** The command-line flag of an input field (`colorSpace` → `color-space`). */
export function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** What a model's image input says about itself. */
export interface ModelInput {
  input: ValueInfo;
  layout?: InputSpec['layout'];
  channels?: 1 | 3;
  height?: number;
  width?: number;
  /** The fixed batch size, or undefined when the batch dimension is free. */
  batch?: number;
}

const size = (v: number | string | undefined): number | undefined => (typeof v === 'number' && v > 0 ? v : undefined);

/**
 * The image layout a rank-4 input shape tells: NCHW when dim 1 is 1 or 3 channels, else NHWC when
 * dim 3 is; sizes left out where the model leaves them free. Undefined when neither fits.
 */
export function imageLayout(dims: readonly (number | string)[]): { layout: InputSpec['layout']; channels: 1 | 3; height?: number; width?: number } | undefined {
  if (dims.length !== 4) return undefined;
  const c1 = size(dims[1]);
  const c3 = size(dims[3]);
  if (c1 === 1 || c1 === 3) return { layout: 'NCHW', channels: c1, height: size(dims[2]), width: size(dims[3]) };
  if (c3 === 1 || c3 === 3) return { layout: 'NHWC', channels: c3, height: size(dims[1]), width: size(dims[2]) };
  return undefined;
}

/** The model's image input (`name`, else the first float input of rank 4, else the first) and what its shape tells. */
export function readModelInput(model: OnnxModel, name?: string): ModelInput {
  const inputs = model.inputs;
  const input = name !== undefined ? inputs.find((i) => i.name === name) : (inputs.find((i) => i.elemType === DataType.FLOAT && i.dims.length === 4) ?? inputs[0]);
  if (!input) {
    const why = name !== undefined ? `has no input "${name}" (its inputs: ${inputs.map((i) => i.name).join(', ') || 'none'})` : 'has no input';
    throw new RwsError('model-input', `${model.file}: the model ${why}`, { file: model.file, field: name !== undefined ? '--input' : undefined });
  }
  return { input, batch: size(input.dims[0]), ...imageLayout(input.dims) };
}
