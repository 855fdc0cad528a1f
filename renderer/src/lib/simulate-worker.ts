// The core's corruptions for the camera view's big preview, off the page's main thread (a heavy
// condition on a preview-sized frame takes longer than a frame lasts). One job in, one frame out.
import { corrupt } from '../../../main/core/corruptions/index.js';

export interface SimulateJob {
  id: number;
  width: number;
  height: number;
  /** HWC RGB, 0..1. */
  data: Float32Array;
  condition: string;
  severity: number;
  seed: number;
}
export type SimulateReply = { id: number; data: Float32Array } | { id: number; error: string };

const scope = self as unknown as { onmessage: ((e: MessageEvent<SimulateJob>) => void) | null; postMessage(m: SimulateReply, transfer?: Transferable[]): void };

scope.onmessage = (e) => {
  const { id, width, height, data, condition, severity, seed } = e.data;
  try {
    const out = corrupt({ width, height, channels: 3, data }, condition, severity, seed).data as Float32Array;
    scope.postMessage({ id, data: out }, [out.buffer]);
  } catch (err) {
    scope.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
