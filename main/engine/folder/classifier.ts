import { RwsError } from '../../core/errors.js';
import { MAX_INPUT_SIDE } from '../../core/limits.js';
import type { ConditionMix } from '../../core/signature.js';
import type { InputSpec } from '../packs/pack.js';
import { imageLayout, preset } from '../packs/presets.js';
import type { WalkFile } from './walk.js';

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
  /**
   * With `--mix auto`: like `run`, and the mix each image was run with (and, where Auto hedged, the
   * second mix whose probabilities were averaged with it); `files` are the images' paths inside
   * their input (Auto decides per folder).
   */
  runWithMixes?(input: Float32Array, dims: number[], files?: readonly string[]): Promise<{ scores: Float32Array; mixes: ConditionMix[]; blends?: (ConditionMix | undefined)[] }>;
  /**
   * With `--mix auto` by folder: the whole listing (every shard's files, done ones included) before
   * the first batch, so each folder is decided on the same images in a single run, a shard or a
   * resumed run; `decode` gives a file's input (undefined where it fails).
   */
  planAuto?(files: readonly WalkFile[], decode: (file: WalkFile) => Promise<Float32Array | undefined>, batch: number): void;
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
  if (!shape || !shape.height || !shape.width || shape.height > MAX_INPUT_SIDE || shape.width > MAX_INPUT_SIDE) {
    throw new RwsError(
      'model-input',
      `${where}: input "${input.name}" has shape [${input.shape.join(', ')}]; without a pack the model needs a fixed [N, 1|3, H, W] or [N, H, W, 1|3] image input (use --pack to describe it), at most ${MAX_INPUT_SIDE}×${MAX_INPUT_SIDE} pixels`,
      { file: where, field: input.name },
    );
  }
  const { layout, channels, height, width } = shape;
  return { name: input.name, layout, width, height, channels, colorSpace: channels === 1 ? 'grey' : 'rgb', ...preset('none', { width, height, channels }, where) };
}
