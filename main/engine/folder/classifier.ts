import * as ort from 'onnxruntime-node';
import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { Device } from '../runtime/devices.js';
import type { InputSpec } from '../packs/pack.js';
import { createSession } from '../runtime/session.js';

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
  /** With `--mix auto`: like `run`, and the mix each image was run with (chosen per image or batch). */
  runWithMixes?(input: Float32Array, dims: number[]): Promise<{ scores: Float32Array; mixes: ConditionMix[] }>;
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

/** Options of a classifier made directly from an onnxruntime session (no patching). */
export interface SessionClassifierOptions {
  device?: Device;
  threads?: number;
  /** From the pack; without one, taken from the model's input shape. */
  inputSpec?: InputSpec;
  labels?: string[];
  outputKind?: 'logits' | 'probabilities';
  outputName?: string;
}

/**
 * A classifier over a plain onnxruntime session in this thread, for models run without
 * signatures. Its `run` blocks this thread while onnxruntime computes.
 */
export async function createSessionClassifier(model: string | Uint8Array, opts: SessionClassifierOptions = {}): Promise<Classifier> {
  const where = typeof model === 'string' ? model : 'model';
  const { session, device, fallback } = await createSession(model, { device: opts.device ?? 'cpu', threads: opts.threads });
  const meta = session.inputMetadata[0];
  if (!meta || !meta.isTensor) throw new RwsError('model-input', `${where}: the model has no tensor input`, { file: where });
  const inputSpec = opts.inputSpec ?? inputSpecFromShape({ name: meta.name, shape: meta.shape }, where);
  const outputName = opts.outputName ?? session.outputNames[0]!;
  const outMeta = session.outputMetadata.find((m) => m.name === outputName);
  const classes = outMeta?.isTensor ? outMeta.shape[outMeta.shape.length - 1] : undefined;
  let labels = opts.labels;
  if (!labels) {
    if (typeof classes !== 'number') throw new RwsError('model-output', `${where}: output "${outputName}" has no fixed number of classes; use a pack with labels`, { file: where });
    labels = Array.from({ length: classes }, (_, i) => String(i));
  }
  const batchDim = meta.shape[0];
  return {
    inputSpec,
    labels,
    outputKind: opts.outputKind ?? 'logits',
    device,
    fallback,
    maxBatch: typeof batchDim === 'number' && batchDim > 0 ? batchDim : 4096,
    async run(input, dims) {
      const out = await session.run({ [inputSpec.name]: new ort.Tensor('float32', input, dims) });
      const t = out[outputName]!;
      return t.data as Float32Array;
    },
    async dispose() {
      await session.release();
    },
  };
}
