// `rws run`'s inference worker, started as early as the process can: bin/rws.js starts it before
// the command line's own code loads (commander, the run's planning, the pack schema), so that the
// worker loads onnxruntime and the ONNX reader meanwhile, on the other core. Until `rws run` takes
// it, it does not keep the process alive: a command line that fails to parse exits as it would.
import { RemotePatcher } from '../engine/runtime/remote-patcher.js';

let early: RemotePatcher | undefined;

/**
 * `RWS_INFERENCE_WORKER` names the compiled worker script when running from TypeScript sources
 * (tests); the build puts it next to the patcher.
 */
function start(): RemotePatcher {
  return RemotePatcher.start(process.env.RWS_INFERENCE_WORKER ? { workerUrl: process.env.RWS_INFERENCE_WORKER } : {});
}

/** Starts the worker now, for `takeRunWorker`; it holds the process open only once taken. */
export function startRunWorker(): void {
  early ??= start();
  early.keepAlive(false);
}

/** The worker `startRunWorker` started, or a new one; from now on it holds the process open until disposed. */
export function takeRunWorker(): RemotePatcher {
  const worker = early ?? start();
  early = undefined;
  worker.keepAlive(true);
  return worker;
}
