// The browser client's view of its connection to `rws serve`: open, lost when the server stops (or
// stops answering without closing the socket), open again when a server is back on the address.
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionState } from '../../main/api/contract.js';
import { createHttpClient } from '../../main/api/http-client.js';
import { startServer } from '../../main/serve/server.js';
import { fakeFactory } from '../service/fake-classifier.js';
import { writeFixturePack } from '../service/fixture-pack.js';

let tmp: string;
let root: string;

beforeAll(() => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-client-')));
  root = path.join(tmp, 'root');
  mkdirSync(root, { recursive: true });
  writeFixturePack(path.join(tmp, 'pack'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const serve = (port: number) => startServer({ port, roots: [root], packDir: path.join(tmp, 'pack'), rendererDir: tmp, classifierFactory: fakeFactory() });

describe('the HTTP client connection', () => {
  it('is open, lost when the server stops, and open again with a new engine instance when it is back', async () => {
    let server = await serve(0);
    const port = server.port;
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${port}`, WebSocket: WebSocket as never, heartbeatMs: 400 });
    const seen: ConnectionState[] = [];
    client.onConnection!((c) => seen.push(c));
    try {
      await expect.poll(() => seen.at(-1)?.state).toBe('open');
      const first = (await client.getState()).instance;
      await server.close();
      await expect.poll(() => seen.at(-1)?.state).toBe('lost');
      const e = await client.getState().catch((x: { code: string }) => x);
      expect((e as { code: string }).code).toBe('connection-lost');
      server = await serve(port);
      await expect.poll(() => seen.at(-1)?.state, { timeout: 15_000 }).toBe('open');
      const second = (await client.getState()).instance;
      expect(second).not.toBe(first);
    } finally {
      client.close();
      await server.close();
    }
  }, 30_000);

  it('is lost when the server keeps the socket but stops answering', async () => {
    // A socket that accepts and then says nothing, as a hung server or a dead network path does.
    const wss = new WebSocketServer({ port: 0 });
    const port = (wss.address() as { port: number }).port;
    wss.on('connection', (ws) => ws.send(JSON.stringify({ event: 'engineState', payload: {} })));
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${port}`, WebSocket: WebSocket as never, heartbeatMs: 200 });
    const seen: string[] = [];
    client.onConnection!((c) => seen.push(c.state));
    try {
      await expect.poll(() => seen.includes('open')).toBe(true);
      await expect.poll(() => seen.at(-1), { timeout: 5_000 }).toBe('lost');
    } finally {
      client.close();
      await new Promise((r) => wss.close(r));
    }
  });
});
