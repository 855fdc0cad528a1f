import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { InputSpec } from '../packs/pack.js';
import { imageLayout, preset } from '../packs/presets.js';

/** What a folder run needs of a model: its input, its classes, and a batched `run` giving one row of scores per image. */
export interface Classifier {
  readonly inputSpec: InputSpec;
  readonly labels: string[];
  /** `logits` are turned into probabilities by softmax; `probabilities` are used as they are. */
  readonly outputKind: 'logits' | 'probabilities';
  readonly device: string;
  /** Why the requested device was not used, when it was not. */
  readonly fallback?: string;
  /** Largest batch the model accepts (1 when its batch dimension is fixed at 1). */
  readonly maxBatch: number;
  /** Scores for `dims[0]` images, `classes` values each, image after image. */
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
  /** With `--mix auto`: like `run`, and the mix each image was run with; `files` are the images' paths inside their input (Auto decides per folder). */
  runWithMixes?(input: Float32Array, dims: number[], files?: readonly string[]): Promise<{ scores: Float32Array; mixes: ConditionMix[] }>;
  dispose(): Promise<void>;
}

/** A model's input as onnxruntime describes it. */
export interface ModelInputShape {
  name: string;
  shape: readonly (number | string)[];
}

/**
 * The input spec of a model with no pack: NCHW (or NHWC) with 1 channel read as grey and 3 as RGB,
 * values in 0..1 without mean/std, images stretched to the model's size.
 */
export function inputSpecFromShape(input: ModelInputShape, where: string): InputSpec {
  const shape = imageLayout(input.shape);
  if (!shape || !shape.height || !shape.width) {
    throw new RwsError(
      'model-input',
      `${where}: input "${input.name}" has shape [${input.shape.join(', ')}]; without a pack the model needs a fixed [N, 1|3, H, W] or [N, H, W, 1|3] image input (use --pack to describe it)`,
      { file: where, field: input.name },
    );
  }
  const { layout, channels, height, width } = shape;
  return { name: input.name, layout, width, height, channels, colorSpace: channels === 1 ? 'grey' : 'rgb', ...preset('none', { width, height, channels }, where) };
}
