import type { Command } from 'commander';
import { RwsError } from '../core/errors.js';
import { parseDevice } from '../engine/runtime/devices.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { defaultRendererDir, isLoopback, startServer } from '../serve/server.js';
import { described } from './commands.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `rws serve`: the app's API and UI over HTTP + WebSocket, on loopback unless told otherwise. */
export function register(program: Command): void {
  program
    .command('serve')
    .description(described('serve'))
    .option('--port <n>', 'port to listen on (0 = any free port)', '7860')
    .option('--host <address>', 'address to bind; anything but loopback requires the printed token', '127.0.0.1')
    .option('--root <dir>', 'folder the UI may read inputs from and write outputs to (repeatable; default: the current folder)', collect, [])
    .option('--pack <dir>', 'model pack loaded by default (default: the shipped fashion-mnist pack)')
    .option('--device <id>', 'auto, cpu, cuda, dml, coreml or webgpu', 'auto')
    .option('--allow-host <name>', 'another Host name the server may be reached by (repeatable)', collect, [])
    .option('--renderer <dir>', 'built UI to serve (default: out/renderer of this installation)')
    .action(async (o: { port: string; host: string; root: string[]; pack?: string; device: string; allowHost: string[]; renderer?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RwsError('usage', `--port: "${o.port}" is not a port number`, { field: '--port' });
      const device = parseDevice(o.device);
      const server = await startServer({
        port,
        host: o.host,
        roots: o.root.length ? o.root : [process.cwd()],
        packDir: o.pack,
        rendererDir: o.renderer,
        allowHosts: o.allowHost,
      });
      if (device !== 'auto') await server.service.call('setDevice', { device });
      const roots = server.service.engine.guard?.list().map((r) => r.path) ?? [];
      console.log(`rws serve: ${server.url}`);
      console.log(`  folders it may use: ${roots.join(', ')}`);
      const ui = o.renderer ?? defaultRendererDir();
      if (!existsSync(path.join(ui, 'index.html'))) console.log(`  the UI is not built (${ui} has no index.html): run \`npm run build\`; the API works without it`);
      if (!isLoopback(o.host)) {
        console.log(`  bound to ${o.host}: every request needs the token ${server.token}`);
        console.log('  (open the URL above once; the browser keeps the token in a cookie)');
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
