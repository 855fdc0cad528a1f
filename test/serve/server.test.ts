import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpRwsApi } from '../../main/api/http-client.js';
import type { EngineState, RwsEvents } from '../../main/api/contract.js';
import { startServer, type RunningServer } from '../../main/serve/server.js';
import { RwsError } from '../../main/core/errors.js';
import { fakeFactory } from '../service/fake-classifier.js';
import { writeFixturePack } from '../service/fixture-pack.js';

let tmp: string;
let root: string;
let server: RunningServer;
let client: HttpRwsApi;

/** A raw request, so tests can send the headers a browser or an attacker would. */
function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function wsOpens(url: string, headers: Record<string, string> = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve(true);
    });
    ws.on('error', () => resolve(false));
    ws.on('unexpected-response', () => resolve(false));
  });
}

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-serve-')));
  root = path.join(tmp, 'root');
  mkdirSync(path.join(root, 'in'), { recursive: true });
  writeFixturePack(path.join(tmp, 'pack'));
  const renderer = path.join(tmp, 'renderer');
  mkdirSync(path.join(renderer, 'assets'), { recursive: true });
  writeFileSync(path.join(renderer, 'index.html'), '<!doctype html><title>RWS</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(path.join(renderer, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(path.join(tmp, 'secret.txt'), 'TOP-SECRET-CONTENT');
  server = await startServer({ port: 0, roots: [root], packDir: path.join(tmp, 'pack'), rendererDir: renderer, classifierFactory: fakeFactory(), maxBodyBytes: 1024 * 1024 });
  client = createHttpClient({ baseUrl: `http://127.0.0.1:${server.port}`, WebSocket: WebSocket as never });
});

afterAll(async () => {
  client?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('rws serve on loopback', () => {
  it('prints a loopback URL without a token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/`);
    expect(server.token).toBeUndefined();
  });

  it('runs commands through the browser client, typed arrays included', async () => {
    const pack = await client.loadPack();
    expect(pack.id).toBe('fixture');
    const mix = await client.setMix({ mix: { fog: 1 } });
    expect(mix.key).toBe('fog=1');
    const r = await client.classifyFrame({ width: 28, height: 28, channels: 1, data: new Float32Array(784).fill(0.5), compare: true });
    expect(r.mixKey).toBe('fog=1');
    expect(r.clean).toHaveLength(5);
    const img = await client.previewCondition({ condition: 'noise', severity: 2, image: { width: 4, height: 4, channels: 1, data: new Float32Array(16).fill(0.5) } });
    expect(img.data).toBeInstanceOf(Float32Array);
    const up = await client.uploadFiles({ files: [{ name: 'x/a.bin', data: new Uint8Array([1, 2, 3]) }] });
    expect(up.folder.startsWith(path.join(root, 'rws-uploads'))).toBe(true);
  });

  it('gives errors with their code and message, and the HTTP status that fits', async () => {
    const e = await client.browse({ dir: tmp }).catch((x: RwsError) => x);
    expect(e).toBeInstanceOf(RwsError);
    expect([(e as RwsError).code, (e as RwsError).field]).toEqual(['outside-roots', 'dir']);
    expect((e as RwsError).message).toContain(tmp);
    const bad = await client.setDevice({ device: 'tpu' as 'cpu' }).catch((x: RwsError) => x);
    expect((bad as RwsError).code).toBe('bad-argument');
    const res = await request(`http://127.0.0.1:${server.port}/api/browse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dir: tmp }) });
    expect(res.status).toBe(403);
    const unknown = await request(`http://127.0.0.1:${server.port}/api/format`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unknown.status).toBe(404);
  });

  it('pushes events over the WebSocket', async () => {
    const states: EngineState[] = [];
    const got = new Promise<RwsEvents['engineState']>((resolve) => {
      const off = client.on('engineState', (s) => {
        states.push(s);
        if (s.mixKey === 'low-light=0.5') {
          off();
          resolve(s);
        }
      });
    });
    // The socket sends the current state on connect; wait for it before changing the mix.
    await new Promise((r) => setTimeout(r, 200));
    await client.setMix({ mix: 'low-light=0.5' });
    const s = await got;
    expect(s.pack?.id).toBe('fixture');
    expect(states.length).toBeGreaterThanOrEqual(2);
  });

  it('serves the renderer and falls back to index.html for app routes, never files outside it', async () => {
    const base = `http://127.0.0.1:${server.port}`;
    const index = await request(`${base}/`);
    expect(index.status).toBe(200);
    expect(index.headers['content-security-policy']).toContain("default-src 'self'");
    expect(index.headers['x-frame-options']).toBe('DENY');
    expect((await request(`${base}/assets/app.js`)).headers['content-type']).toContain('javascript');
    expect((await request(`${base}/camera`)).body).toContain('<title>RWS</title>');
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/..%2fsecret.txt']) {
      const r = await request(`${base}${p}`);
      expect(r.body, p).not.toContain('TOP-SECRET-CONTENT');
    }
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin', async () => {
    const url = `http://127.0.0.1:${server.port}/api/getState`;
    const post = (headers: Record<string, string>) => request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '' });
    expect((await post({})).status).toBe(200);
    expect((await post({ host: `localhost:${server.port}` })).status).toBe(200);
    expect((await post({ origin: `http://127.0.0.1:${server.port}` })).status).toBe(200);
    expect((await post({ host: `evil.example:${server.port}` })).status).toBe(403);
    expect((await post({ host: 'localhost:1' })).status).toBe(403);
    expect((await post({ origin: 'http://evil.example' })).status).toBe(403);
    expect((await post({ origin: 'null' })).status).toBe(403);
    expect((await request(`http://127.0.0.1:${server.port}/`, { headers: { host: 'rebind.example' } })).status).toBe(403);
    const ws = `ws://127.0.0.1:${server.port}/ws`;
    expect(await wsOpens(ws)).toBe(true);
    expect(await wsOpens(ws, { origin: 'http://evil.example' })).toBe(false);
    expect(await wsOpens(ws, { host: `evil.example:${server.port}` })).toBe(false);
  });

  it('takes only JSON posts, bounded in size', async () => {
    const url = `http://127.0.0.1:${server.port}/api/getState`;
    expect((await request(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '' })).status).toBe(415);
    expect((await request(url, { method: 'GET' })).status).toBe(405);
    const big = await request(`http://127.0.0.1:${server.port}/api/setMix`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mix: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(big.status).toBe(413);
    const junk = await request(`http://127.0.0.1:${server.port}/api/setMix`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(junk.status).toBe(400);
    expect(JSON.parse(junk.body).error.code).toBe('bad-json');
  });
});

describe('rws serve on another address', () => {
  it('requires the token on every request and socket; the page link sets a cookie', async () => {
    const s = await startServer({ port: 0, host: '0.0.0.0', roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory() });
    try {
      expect(s.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(s.url).toContain(`?token=${s.token}`);
      const base = `http://127.0.0.1:${s.port}`;
      const api = (headers: Record<string, string>) => request(`${base}/api/getState`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '' });
      expect((await api({})).status).toBe(401);
      expect((await api({ 'x-rws-token': 'wrong' })).status).toBe(401);
      expect((await api({ 'x-rws-token': s.token! })).status).toBe(200);
      expect((await request(`${base}/`)).status).toBe(401);
      const page = await request(`${base}/?token=${s.token}`);
      expect(page.status).toBe(200);
      const cookie = String(page.headers['set-cookie']).split(';')[0]!;
      expect(String(page.headers['set-cookie'])).toContain('HttpOnly');
      expect((await api({ cookie })).status).toBe(200);
      expect(await wsOpens(`ws://127.0.0.1:${s.port}/ws`)).toBe(false);
      expect(await wsOpens(`ws://127.0.0.1:${s.port}/ws?token=${s.token}`)).toBe(true);
      const c = createHttpClient({ baseUrl: base, token: s.token, WebSocket: WebSocket as never });
      expect((await c.getState()).status).toBe('idle');
      c.close();
    } finally {
      await s.close();
    }
  });
});

describe('commands over the event socket', () => {
  it('the camera path (classifyFrame, setMix) goes over the open socket, with the same results and errors', async () => {
    let fetches = 0;
    const counting: typeof fetch = (input, init) => {
      fetches++;
      return fetch(input, init);
    };
    const c = createHttpClient({ baseUrl: `http://127.0.0.1:${server.port}`, WebSocket: WebSocket as never, fetch: counting });
    try {
      await new Promise<void>((resolve) => {
        const off = c.on('engineState', () => {
          off();
          resolve();
        });
      });
      const set = await c.setMix({ mix: { fog: 0.25 } });
      expect(set.key).toBe('fog=0.25');
      const r = await c.classifyFrame({ width: 28, height: 28, channels: 1, data: new Float32Array(784).fill(0.5), compare: true });
      expect(r.mixKey).toBe('fog=0.25');
      expect(r.clean).toHaveLength(5);
      const e = await c.setMix({ mix: 'hail=1' }).catch((x: RwsError) => x);
      expect(e).toBeInstanceOf(RwsError);
      expect((e as RwsError).code).toBe('mix-unknown');
      const bad = await c.classifyFrame({ width: 28, height: 28, channels: 1, data: [1] }).catch((x: RwsError) => x);
      expect([(bad as RwsError).code, (bad as RwsError).field]).toEqual(['bad-argument', 'data']);
      expect(fetches).toBe(0);
      await c.getState();
      expect(fetches).toBe(1);
    } finally {
      c.close();
    }
  });
});

describe('WebSocket message rate', () => {
  it('refuses a flooding socket with rate-limited, then closes it, while another client keeps working', async () => {
    const s = await startServer({
      port: 0,
      roots: [root],
      packDir: path.join(tmp, 'pack'),
      classifierFactory: fakeFactory(),
      wsRate: { perSecond: 20, burst: 10, closeAfter: 200 },
    });
    const good = createHttpClient({ baseUrl: `http://127.0.0.1:${s.port}`, WebSocket: WebSocket as never, fetch: () => Promise.reject(new Error('no HTTP')) });
    try {
      await new Promise<void>((resolve) => {
        const off = good.on('engineState', () => {
          off();
          resolve();
        });
      });
      const flood = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
      const answers: { id?: number; error?: { code: string } }[] = [];
      const closed = new Promise<number>((resolve) => flood.on('close', (code) => resolve(code)));
      flood.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m.id !== undefined) answers.push(m);
      });
      await new Promise((resolve) => flood.on('open', resolve));
      // 1000 messages at once: the burst (10) and what the rate adds meanwhile pass, then refusals until the close.
      for (let id = 1; id <= 1000; id++) flood.send(JSON.stringify({ id, command: 'getState', args: {} }));
      const code = await closed;
      expect(code).toBe(1008);
      const refused = answers.filter((a) => a.error?.code === 'rate-limited');
      expect(refused.length).toBeGreaterThanOrEqual(199);
      // The burst was taken (their answers may be cut off by the close); only later ones were refused.
      expect(Math.min(...refused.map((a) => a.id!))).toBeGreaterThan(10);
      expect(refused.length).toBeLessThan(1000);
      // The well-behaved client, on its own socket, is not affected.
      const set = await good.setMix({ mix: { fog: 0.5 } });
      expect(set.key).toBe('fog=0.5');
      const r = await good.classifyFrame({ width: 28, height: 28, channels: 1, data: new Float32Array(784).fill(0.5) });
      expect(r.mixKey).toBe('fog=0.5');
    } finally {
      good.close();
      await s.close();
    }
  });

  it('drops a client that stops reading instead of holding every event for it; others keep theirs', async () => {
    const s = await startServer({ port: 0, roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory(), wsBacklogBytes: 512 * 1024 });
    const open = (ws: WebSocket) => new Promise((resolve) => ws.on('open', resolve));
    const slow = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
    const reader = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
    try {
      await Promise.all([open(slow), open(reader)]);
      let slowGot = 0;
      let readerGot = 0;
      slow.on('message', () => slowGot++);
      reader.on('message', () => readerGot++);
      const slowClosed = new Promise<number>((resolve) => slow.on('close', (code) => resolve(code)));
      // The slow client stops reading: its socket's buffers fill, then the server's queue for it grows.
      (slow as unknown as { _socket: { pause(): void } })._socket.pause();
      const row = { file: 'x'.repeat(200), path: 'p', top: [{ index: 0, label: 'zero', score: 0.5 }] };
      const rows = Array.from({ length: 500 }, () => row); // about 150 KB an event
      const EVENTS = 200; // about 30 MB in all, far over the 512 KiB allowed plus what the kernel buffers
      for (let i = 0; i < EVENTS; i++) {
        s.service.engine.events.emit('result', rows);
        await new Promise((r) => setImmediate(r));
      }
      await new Promise((r) => setTimeout(r, 200));
      // The reader got every event; the slow one, once it reads again, finds itself cut off part way.
      expect(readerGot).toBeGreaterThanOrEqual(EVENTS);
      (slow as unknown as { _socket: { resume(): void } })._socket.resume();
      expect(await Promise.race([slowClosed, new Promise((r) => setTimeout(() => r('still open'), 10_000))])).toBe(1006);
      expect(slowGot).toBeLessThan(EVENTS);
    } finally {
      slow.terminate();
      reader.close();
      await s.close();
    }
  });
});

describe('rws serve under hostile requests', () => {
  const post = (s: RunningServer, command: string, body: string, headers: Record<string, string> = {}) =>
    request(`http://127.0.0.1:${s.port}/api/${command}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('takes a malformed cookie as it is, instead of answering 500', async () => {
    const s = await startServer({ port: 0, roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory(), token: 'tok-en' });
    try {
      expect((await post(s, 'getState', '', { cookie: 'x=%zz; rws_token=tok-en' })).status).toBe(200);
      expect((await post(s, 'getState', '', { cookie: 'x=%zz; rws_token=%E0%A4%A' })).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  it('says nothing when a client goes away mid-body, and answers the next request', async () => {
    const logged: unknown[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => void logged.push(a);
    try {
      await new Promise<void>((resolve) => {
        const req = http.request(`http://127.0.0.1:${server.port}/api/setMix`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100000' } });
        req.on('error', () => resolve());
        req.write('{"mix": "fog=');
        setTimeout(() => {
          req.destroy();
          setTimeout(resolve, 300);
        }, 100);
      });
      expect((await post(server, 'getState', '')).status).toBe(200);
    } finally {
      console.error = error;
    }
    expect(logged).toEqual([]);
  });

  it('answers a WebSocket message with a good id and a bad $f32 with an error for that id', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    const answer = new Promise<{ id?: number; error?: { code: string; message: string } }>((resolve) =>
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m.id !== undefined) resolve(m);
      }),
    );
    await new Promise((r) => ws.on('open', r));
    ws.send('{"id": 7, "command": "classifyFrame", "args": {"width": 28, "height": 28, "channels": 1, "data": {"$f32": "!!not base64!!"}}}');
    const m = await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    ws.close();
    expect(m).toMatchObject({ id: 7, error: { code: 'bad-json' } });
    expect(m!.error!.message).toMatch(/invalid base64 character/);
  });

  it('bounds the bytes of bodies held at once over all requests, not only each one (503, try again)', async () => {
    const s = await startServer({ port: 0, roots: [root], packDir: path.join(tmp, 'pack'), classifierFactory: fakeFactory(), maxBodyBytes: 1024 * 1024, maxBodyBytesInFlight: 2 * 1024 * 1024 });
    const open: http.ClientRequest[] = [];
    try {
      // Two bodies of 1 MiB arrive slowly: together they hold the whole budget.
      for (let i = 0; i < 2; i++) {
        const req = http.request(`http://127.0.0.1:${s.port}/api/setMix`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(1024 * 1024) } });
        req.on('error', () => {});
        req.write('{"mix": "');
        open.push(req);
      }
      await new Promise((r) => setTimeout(r, 300));
      const third = await post(s, 'setMix', JSON.stringify({ mix: 'fog=1' }));
      expect(third.status).toBe(503);
      expect(JSON.parse(third.body).error.code).toBe('busy');
      expect(third.headers['retry-after']).toBe('1');
      for (const r of open) r.destroy();
      await new Promise((r) => setTimeout(r, 300));
      // Their bytes are given back once they end: the next request goes through.
      expect((await post(s, 'setMix', JSON.stringify({ mix: 'fog=1' }))).status).toBe(200);
    } finally {
      for (const r of open) r.destroy();
      await s.close();
    }
  });

  it('holds mix text to the same range as a mix object, over HTTP and the WebSocket', async () => {
    for (const mix of ['fog=5', 'fog=1e308', { fog: 5 }]) {
      const r = await post(server, 'setMix', JSON.stringify({ mix }));
      expect(r.status, JSON.stringify(mix)).toBe(400);
      expect(JSON.parse(r.body).error.message).toMatch(/mix/);
    }
    const e = await client.setMix({ mix: 'fog=1e308' }).catch((x: RwsError) => x);
    expect(e).toMatchObject({ code: 'mix-range', message: 'mix: strength of "fog" is 1e+308; strengths go from -4 to 4' });
  });

  it.skipIf(process.platform === 'win32')('refuses a FIFO or a /dev/zero link as a thumbnail at once, and keeps answering', async () => {
    execFileSync('mkfifo', [path.join(root, 'in', 'pipe.png')]);
    const started = Date.now();
    const e = await client.getThumbnail({ file: path.join(root, 'in', 'pipe.png') }).catch((x: RwsError) => x);
    expect(e).toMatchObject({ code: 'not-regular-file' });
    expect((e as RwsError).message).toBe(`${path.join(root, 'in', 'pipe.png')}: not read: it is a FIFO (named pipe), not a regular file`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await client.browse({ dir: path.join(root, 'in') })).dir).toBe(path.join(root, 'in'));
  });

  it('creates nothing through a link out of the roots before refusing an upload', async () => {
    const up = await client.uploadFiles({ files: [{ name: 'first.bin', data: new Uint8Array([1]) }] });
    const outside = path.join(tmp, 'outside-uploads');
    mkdirSync(outside);
    symlinkSync(outside, path.join(up.folder, 'escape'));
    const e = await client.uploadFiles({ folder: up.folder, files: [{ name: 'escape/deep/er/x.bin', data: new Uint8Array([1]) }] }).catch((x: RwsError) => x);
    expect(e).toMatchObject({ code: 'outside-roots' });
    expect(readdirSync(outside)).toEqual([]);
  });
});
