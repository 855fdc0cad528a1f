/** How a signature's values are stored on disk; values are always f32 once loaded. */
export type Quantization = 'f32' | 'f16' | 'int8' | 'int4';

/** How the delta was made: the paper's projection, the plain difference, or a shallow fine-tune. */
export type ExtractionMethod = 'projected' | 'plain' | 'finetune';

/** How a tensor's delta is applied: added (`add`), or added to the log of a BatchNorm variance (`log`). */
export type PatchMode = 'add' | 'log';

/** One tensor of a signature, keyed by the ONNX initializer name it patches. */
export interface SignatureTensor {
  name: string;
  shape: number[];
  /** Dequantized delta values (f32), same element count as the base tensor. */
  values: Float32Array;
  /** Axis of the output channel used for per-channel scales (0 for Conv, 1 for ConvTranspose and Gemm transB=0). */
  channelAxis: number;
  mode: PatchMode;
}

/** Everything in `__metadata__` besides the tensors. */
export interface SignatureMeta {
  format: 'rws/1';
  id: string;
  condition: string;
  /** Severity range the signature was made for, inclusive. */
  severity: [number, number];
  method: ExtractionMethod;
  /** Number of layers kept (conv/gemm layers in graph order). */
  layers: number;
  quant: Quantization;
  /** SHA-256 (hex) of each base tensor's little-endian f32 values, by initializer name. */
  baseHashes: Record<string, string>;
  /** How BatchNorm is patched: `folded` (model has BN folded into convs), `log-variance`, or `none`. */
  batchNorm: 'folded' | 'log-variance' | 'none';
  /** Name of the base model, informative only. */
  baseModel?: string;
  /** Measured effect (accuracies etc.), free-form. */
  effect?: Record<string, unknown>;
  /** Share of the delta's energy kept by `layers`. */
  energyShare?: number;
  description?: string;
}

/** A Robust Weight Signature: deltas for a model's shallow tensors, plus what they are for. */
export interface Signature {
  meta: SignatureMeta;
  tensors: SignatureTensor[];
}

/** Strength of each signature by id: `{fog: 0.8, 'low-light': 1}`; empty = clean model. */
export type ConditionMix = Record<string, number>;
