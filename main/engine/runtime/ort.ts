// onnxruntime-node, loaded through require rather than import: the ES loader would run its CommonJS
// entry through a lexer that follows every re-export into onnxruntime-common, which costs the
// inference worker's start about a tenth of what it spends before its first session (npm run bench
// startup). Import `ort` from here for values and types alike (`ort.Tensor`, `ort.InferenceSession`).
import { createRequire } from 'node:module';
import type * as Ort from 'onnxruntime-node';

export const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
export declare namespace ort {
  type Tensor = Ort.Tensor;
  type InferenceSession = Ort.InferenceSession;
  namespace InferenceSession {
    type SessionOptions = Ort.InferenceSession.SessionOptions;
  }
}
