// Entry of the engine's utility process. It loads the command service from the tsc build
// (dist/main/service), the same code `rws serve` runs, so the engine's own file lookups
// (workers, the shipped pack) behave as they do on the command line.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DeviceId } from '../api/contract.js';
import type { EngineOptions, Service } from '../service/index.js';
import { serveEngine, toEngineError, type EngineMessage, type HostMessage } from './engine-protocol.js';

const port = process.parentPort;
const post = (msg: EngineMessage) => port.postMessage(msg);

async function main(): Promise<void> {
  const root = process.env.RWS_APP_ROOT ?? process.cwd();
  const device = (process.env.RWS_ENGINE_DEVICE ?? 'auto') as DeviceId;
  const opts: EngineOptions = { device };
  if (process.env.RWS_PACK_DIR) opts.packDir = process.env.RWS_PACK_DIR;
  const entry = pathToFileURL(path.join(root, 'dist', 'main', 'service', 'index.js')).href;
  const { createService } = (await import(entry)) as { createService(o: EngineOptions): Promise<Service> };
  const service = await createService(opts);
  serveEngine(
    { call: (c, a) => service.call(c, a), onAny: (cb) => service.onAny(cb) },
    { post, onMessage: (cb) => port.on('message', (e) => cb(e.data as HostMessage)) },
    device,
  );
}

main().catch((e) => {
  post({ type: 'fatal', error: toEngineError(e) });
  // Exit non-zero so the host reports the failure and restarts (on CPU when a GPU was asked for).
  setTimeout(() => process.exit(1), 50);
});
