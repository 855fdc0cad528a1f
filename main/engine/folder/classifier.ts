import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { InputSpec } from '../packs/pack.js';

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
  const s = input.shape;
  const num = (v: number | string | undefined) => (typeof v === 'number' && v > 0 ? v : undefined);
  let layout: InputSpec['layout'];
  let c: number | undefined;
  let h: number | undefined;
  let w: number | undefined;
  if (s.length === 4 && (num(s[1]) === 1 || num(s[1]) === 3)) [layout, c, h, w] = ['NCHW', num(s[1]), num(s[2]), num(s[3])];
  else if (s.length === 4 && (num(s[3]) === 1 || num(s[3]) === 3)) [layout, c, h, w] = ['NHWC', num(s[3]), num(s[1]), num(s[2])];
  else layout = undefined as unknown as InputSpec['layout'];
  if (!layout || !c || !h || !w) {
    throw new RwsError(
      'model-input',
      `${where}: input "${input.name}" has shape [${s.join(', ')}]; without a pack the model needs a fixed [N, 1|3, H, W] or [N, H, W, 1|3] image input (use --pack to describe it)`,
      { file: where, field: input.name },
    );
  }
  return {
    name: input.name,
    layout,
    width: w,
    height: h,
    channels: c as 1 | 3,
    colorSpace: c === 1 ? 'grey' : 'rgb',
    range: [0, 1],
    mean: [0],
    std: [1],
    resize: 'fill',
  };
}
