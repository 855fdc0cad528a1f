// onnxruntime's process-wide set-up (its environment and the CPU provider's kernel registry, made
// once per process) costs the first session a process creates some 25-35 ms on top of the session
// itself, on whichever thread creates it. `rws run` creates its model's session in the inference
// worker. With --mix auto the worker also reads and checks every signature of the pack while the main
// thread has little to do: the main thread pays the set-up meanwhile by creating a session of this
// one-node model, and the worker's first session costs what any later one does. Without auto the main
// thread is the longer path (it plans the run and loads sharp), and the warm-up only lengthened it:
// `rws run` of one image (hyperfine, 40 runs each, 2 cores) took 246 ms with it and 222 ms without,
// with --mix fog=1 289 and 243 ms; --mix auto 559 ms with it and 679 ms without.
import { ort } from './ort.js';

/** An ONNX model of one Identity node (float32 [1] in and out), opset 13. */
const IDENTITY_MODEL = 'CAg6OgoQCgF4EgF5IghJZGVudGl0eRIEd2FybVoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCAhAN';

/** Does onnxruntime's once-per-process set-up on this thread; resolves when it is done. */
export async function warmOnnxruntime(): Promise<void> {
  const session = await ort.InferenceSession.create(Buffer.from(IDENTITY_MODEL, 'base64'), {
    graphOptimizationLevel: 'disabled',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  await session.release();
}
