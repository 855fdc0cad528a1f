// Entry of the engine's utility process: the command service (the code `rws serve` runs), bundled
// into this entry by electron-vite, answering the main process's calls (engine-protocol.ts). The
// inference worker is its own entry of the same build, beside this file.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DeviceId } from '../api/contract.js';
import { toApiError } from '../api/errors.js';
import { createService, type EngineOptions } from '../service/index.js';
import { serveEngine, type EngineMessage, type HostMessage } from './engine-protocol.js';

const port = process.parentPort;
const post = (msg: EngineMessage) => port.postMessage(msg);

async function main(): Promise<void> {
  const device = (process.env.RWS_ENGINE_DEVICE ?? 'auto') as DeviceId;
  // Built as `new URL` from a computed path so the bundler leaves it alone: the worker is out/main/inference-worker.js.
  const workerUrl = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'inference-worker.js'));
  const opts: EngineOptions = { device, workerUrl };
  if (process.env.RWS_PACK_DIR) opts.packDir = process.env.RWS_PACK_DIR;
  const service = await createService(opts);
  serveEngine(
    { call: (c, a) => service.call(c, a), onAny: (cb) => service.onAny(cb) },
    { post, onMessage: (cb) => port.on('message', (e) => cb(e.data as HostMessage)) },
    device,
  );
}

main().catch((e) => {
  post({ type: 'fatal', error: toApiError(e) });
  // Exit non-zero so the host reports the failure and restarts (on CPU when a GPU was asked for).
  setTimeout(() => process.exit(1), 50);
});
