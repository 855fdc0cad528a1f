/**
 * `rws serve`: the contract over HTTP + WebSocket. POST /api/<command> with wire JSON runs the
 * command through the service; /ws pushes events; everything else is the built renderer.
 * Loopback by default; another address needs the printed token on every request. Requests whose
 * Host or Origin is not this server are refused (DNS rebinding, cross-site requests).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { MessageRate, type MessageRateOptions } from './message-rate.js';
import { COMMANDS, HTTP, type CommandName, type EventName } from '../api/contract.js';
import { toApiError } from '../api/errors.js';
import { decodeWire, encodeWire } from '../api/wire.js';
import { jsonProblem } from '../core/errors.js';
import { installRoot } from '../engine/io/install-root.js';
import { createService, type Service } from '../service/index.js';
import type { ClassifierFactory } from '../service/models.js';
import { fallbackPage } from './fallback-page.js';

export interface ServeOptions {
  /** 0 = any free port. */
  port?: number;
  host?: string;
  /** Folders inputs and outputs may be in; default the current directory. */
  roots?: string[];
  packDir?: string;
  /** The built renderer; default `out/renderer` of the installation. */
  rendererDir?: string;
  /** Access token; made up when binding a non-loopback address. */
  token?: string;
  /** Largest request body (bytes). */
  maxBodyBytes?: number;
  /** Most bytes of request bodies held at once, all requests together (default 4 × maxBodyBytes); more gets 503. */
  maxBodyBytesInFlight?: number;
  /** Extra Host names to accept (e.g. a DNS name the server is reached by on a LAN). */
  allowHosts?: string[];
  /** Bound on WebSocket messages per connection (default 200/s, burst 200, closed after 400 refusals in a row). */
  wsRate?: MessageRateOptions;
  /**
   * Bytes a WebSocket client may leave unread before it is dropped (default 64 MiB): a client that
   * stops reading must not make the server hold every event for it. Above an eighth of this,
   * progress ticks are skipped for it. A dropped client can reconnect (the UI's client does so by itself).
   */
  wsBacklogBytes?: number;
  classifierFactory?: ClassifierFactory;
  /** Use this service instead of making one. */
  service?: Service;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  token?: string;
  service: Service;
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const DEFAULT_WS_BACKLOG = 64 * 1024 * 1024;
const TOKEN_COOKIE = 'rws_token';

/** The installation's built renderer folder (`out/renderer`). */
export function defaultRendererDir(): string {
  return path.join(installRoot(), 'out', 'renderer');
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (net.isIPv4(h) && h.startsWith('127.'));
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.wasm': 'application/wasm',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** The page's CSP: only this server, no inline scripts; camera frames are blob:/mediastream:. */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "font-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function statusFor(code: string): number {
  if (code === 'outside-roots') return 403;
  if (code === 'not-found') return 404;
  if (code === 'unknown-command') return 404;
  if (code === 'internal') return 500;
  return 400;
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const value = part.slice(i + 1).trim();
    // Another site's cookie on this host may hold anything (`x=%zz`): take it as it is, never fail the request on it.
    let decoded = value;
    try {
      decoded = decodeURIComponent(value);
    } catch {
      decoded = value;
    }
    out.set(part.slice(0, i).trim(), decoded);
  }
  return out;
}

function sameToken(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A request whose client went away mid-body: nothing to answer and nothing to log. */
class ClientGone extends Error {}

/**
 * Bytes of request bodies held at once, over all requests: many large bodies at the same time
 * are refused (503, try again) instead of all being held in memory together.
 */
class BodyBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  /** Take `n` bytes of the budget, or false when they would go over it. */
  take(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used -= n;
  }
}

async function readBody(req: IncomingMessage, limit: number, budget: BodyBudget): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) throw new HttpError(413, 'too-large', `request body over ${limit} bytes`);
  const busy = () => new HttpError(503, 'busy', `the server is reading ${budget.limit} bytes of other requests' bodies: try again`);
  // A declared length is reserved before reading; a chunked body reserves as it comes.
  let held = Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  if (!budget.take(held)) throw busy();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new HttpError(413, 'too-large', `request body over ${limit} bytes`);
      if (size > held) {
        if (!budget.take(size - held)) throw busy();
        held = size;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    if (e instanceof HttpError) throw e;
    // The stream broke: the client closed the connection before sending its whole body.
    throw new ClientGone('the client went away mid-body');
  } finally {
    budget.give(held);
  }
}

/** Start `rws serve`; resolves once it listens. */
export async function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  const token = opts.token ?? (loopback ? undefined : randomBytes(24).toString('base64url'));
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const budget = new BodyBudget(opts.maxBodyBytesInFlight ?? 4 * maxBody);
  const rendererDir = opts.rendererDir ?? defaultRendererDir();
  const service =
    opts.service ??
    (await createService({ roots: opts.roots ?? [process.cwd()], packDir: opts.packDir, classifierFactory: opts.classifierFactory }));
  let port = 0;

  const wildcard = host === '0.0.0.0' || host === '::';
  /** Host header values this server answers to (set once the port is known). */
  let allowed = new Set<string>();
  const computeAllowed = () => {
    const names = new Set<string>(['127.0.0.1', 'localhost', '[::1]', ...(opts.allowHosts ?? [])]);
    if (!wildcard) names.add(net.isIPv6(host) ? `[${host}]` : host);
    else
      for (const list of Object.values(os.networkInterfaces()))
        for (const a of list ?? []) names.add(a.family === 'IPv6' ? `[${a.address.split('%')[0]}]` : a.address);
    allowed = new Set([...names].map((n) => `${n.toLowerCase()}:${port}`));
  };

  function checkHost(req: IncomingMessage): string {
    const h = (req.headers.host ?? '').toLowerCase();
    if (!allowed.has(h)) throw new HttpError(403, 'bad-host', `Host "${req.headers.host ?? ''}" is not this server`);
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${h}`) throw new HttpError(403, 'bad-origin', `Origin "${origin}" is not this server`);
    return h;
  }

  function checkToken(req: IncomingMessage, url: URL): { fromQuery: boolean } {
    if (!token) return { fromQuery: false };
    const header = req.headers[HTTP.tokenHeader];
    if (sameToken(typeof header === 'string' ? header : undefined, token)) return { fromQuery: false };
    if (sameToken(cookies(req).get(TOKEN_COOKIE), token)) return { fromQuery: false };
    if (sameToken(url.searchParams.get(HTTP.tokenParam) ?? undefined, token)) return { fromQuery: true };
    throw new HttpError(401, 'token', 'this server needs its access token (printed by `rws serve`)');
  }

  function send(res: ServerResponse, status: number, body: string | Buffer, type: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  function sendError(res: ServerResponse, status: number, code: string, message: string): void {
    send(res, status, JSON.stringify({ error: { code, message } }), 'application/json; charset=utf-8', { 'cache-control': 'no-store' });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, command: string): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'method', 'commands are POST requests');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    // A JSON content type keeps plain HTML forms of other sites out, whatever their Origin.
    if (type !== 'application/json') throw new HttpError(415, 'content-type', 'commands take application/json');
    if (!(COMMANDS as readonly string[]).includes(command)) throw new HttpError(404, 'unknown-command', `unknown command "${command}"`);
    const text = await readBody(req, maxBody, budget);
    let args: unknown;
    try {
      args = text.trim() === '' ? undefined : decodeWire(text);
    } catch (e) {
      throw new HttpError(400, 'bad-json', `${command}: the body is not valid JSON (${jsonProblem(e)})`);
    }
    try {
      const result = await service.call(command as CommandName, args);
      send(res, 200, result === undefined ? 'null' : encodeWire(result), 'application/json; charset=utf-8', { 'cache-control': 'no-store' });
    } catch (e) {
      const err = toApiError(e);
      if (err.code === 'internal') console.error(e);
      send(res, statusFor(err.code), JSON.stringify({ error: err }), 'application/json; charset=utf-8', { 'cache-control': 'no-store' });
    }
  }

  async function handleStatic(req: IncomingMessage, res: ServerResponse, url: URL, setCookie: boolean): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method', 'only GET here');
    const extra: Record<string, string> = {};
    if (setCookie && token) extra['set-cookie'] = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      throw new HttpError(400, 'bad-path', 'bad path');
    }
    if (rel.includes('\0')) throw new HttpError(400, 'bad-path', 'bad path');
    const root = await realpath(rendererDir).catch(() => undefined);
    let file = root ? path.join(root, path.normalize(rel)) : undefined;
    if (file && (file === root || rel.endsWith('/'))) file = path.join(file, 'index.html');
    let found = false;
    if (root && file) {
      const real = await realpath(file).catch(() => undefined);
      const relReal = real ? path.relative(root, real) : '..';
      if (real && !relReal.startsWith('..') && !path.isAbsolute(relReal) && (await stat(real)).isFile()) {
        file = real;
        found = true;
      } else if (!path.extname(rel)) {
        // A client-side route: the app's page.
        file = path.join(root, 'index.html');
        found = await stat(file).then((s) => s.isFile(), () => false);
      }
    }
    if (!found || !file) {
      if (url.pathname === '/' || url.pathname === '/index.html' || !path.extname(rel)) {
        send(res, 200, fallbackPage(rendererDir), 'text/html; charset=utf-8', { ...extra, 'content-security-policy': CSP, 'cache-control': 'no-store' });
        return;
      }
      throw new HttpError(404, 'not-found', `${url.pathname}: not found`);
    }
    const body = await readFile(file);
    const ext = path.extname(file).toLowerCase();
    const headers: Record<string, string> = { ...extra, 'cache-control': ext === '.html' ? 'no-store' : 'no-cache' };
    if (ext === '.html') headers['content-security-policy'] = CSP;
    send(res, 200, req.method === 'HEAD' ? Buffer.alloc(0) : body, MIME[ext] ?? 'application/octet-stream', headers);
  }

  const server = createServer((req, res) => {
    void (async () => {
      try {
        checkHost(req);
        const url = new URL(req.url ?? '/', 'http://localhost');
        const { fromQuery } = checkToken(req, url);
        if (url.pathname.startsWith('/api/')) await handleApi(req, res, url.pathname.slice(5));
        else await handleStatic(req, res, url, fromQuery);
      } catch (e) {
        if (res.headersSent || e instanceof ClientGone || req.socket.destroyed) {
          res.destroy();
          return;
        }
        if (e instanceof HttpError) {
          if (e.status === 413 || e.status === 503) res.setHeader('connection', 'close');
          if (e.status === 503) res.setHeader('retry-after', '1');
          sendError(res, e.status, e.code, e.message);
        } else {
          console.error(e);
          sendError(res, 500, 'internal', (e as Error).message);
        }
      }
    })();
  });
  server.requestTimeout = 120_000;
  server.headersTimeout = 20_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBody });
  const clients = new Set<WebSocket>();
  const backlog = opts.wsBacklogBytes ?? DEFAULT_WS_BACKLOG;
  /** Send to one client, unless it is too far behind: then skip a droppable message, or drop the client. */
  const deliver = (ws: WebSocket, text: string, droppable = false): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (droppable && ws.bufferedAmount > backlog / 8) return;
    if (ws.bufferedAmount + text.length > backlog) {
      clients.delete(ws);
      ws.terminate();
      return;
    }
    ws.send(text);
  };
  server.on('upgrade', (req, socket, head) => {
    try {
      checkHost(req);
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== HTTP.ws) throw new HttpError(404, 'not-found', 'no such socket');
      checkToken(req, url);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 400;
      socket.end(`HTTP/1.1 ${status} Refused\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      // Commands may also come over the socket ({id, command, args} → {id, result} or {id, error}):
      // the camera path saves an HTTP request per frame. Same service, same validation.
      const rate = new MessageRate(opts.wsRate);
      ws.on('message', (data, isBinary) => {
        const verdict = rate.take();
        if (verdict === 'close') {
          ws.close(1008, 'too many messages');
          return;
        }
        const raw = data as Buffer;
        // Answer with an error so a client's call fails rather than hangs (the id read from the text).
        const refuse = (code: string, message: string) => {
          const text = isBinary ? '' : raw.toString('utf8', 0, Math.min(raw.length, 4096));
          const m = /^\s*\{\s*"id"\s*:\s*(\d{1,15})\s*[,}]/.exec(text);
          deliver(ws, encodeWire(m ? { id: Number(m[1]), error: { code, message } } : { error: { code, message } }));
        };
        if (verdict === 'refuse') return refuse('rate-limited', `over ${rate.perSecond} messages/s on this socket: slow down`);
        if (isBinary) return;
        let msg: { id?: unknown; command?: unknown; args?: unknown };
        try {
          msg = decodeWire(raw.toString()) as typeof msg;
        } catch (e) {
          return refuse('bad-json', `the message is not valid wire JSON (${jsonProblem(e)})`);
        }
        if (!msg || typeof msg.id !== 'number' || typeof msg.command !== 'string') return;
        const id = msg.id;
        const reply = (body: object) => deliver(ws, encodeWire({ id, ...body }));
        if (!(COMMANDS as readonly string[]).includes(msg.command)) {
          reply({ error: { code: 'unknown-command', message: `unknown command "${msg.command}"` } });
          return;
        }
        // A message's bytes count against the same budget as HTTP bodies while its command runs.
        if (!budget.take(raw.length)) {
          reply({ error: { code: 'busy', message: `the server is holding ${budget.limit} bytes of other requests: try again` } });
          return;
        }
        service
          .call(msg.command as CommandName, msg.args)
          .then(
            (result) => reply({ result: result ?? null }),
            (e) => {
              const err = toApiError(e);
              if (err.code === 'internal') console.error(e);
              reply({ error: err });
            },
          )
          .finally(() => budget.give(raw.length));
      });
      ws.send(encodeWire({ event: 'engineState', payload: service.engine.state() }));
    });
  });

  const unsubscribe = service.onAny((event: EventName, payload: unknown) => {
    if (clients.size === 0) return;
    const text = encodeWire({ event, payload });
    // A slow client misses progress ticks (the next one says it all), and one that stops reading is dropped.
    for (const ws of clients) deliver(ws, text, event === 'progress');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 7860, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as net.AddressInfo).port;
  computeAllowed();
  const shownHost = wildcard ? '127.0.0.1' : net.isIPv6(host) ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/${token ? `?${HTTP.tokenParam}=${token}` : ''}`;

  return {
    url,
    host,
    port,
    token,
    service,
    async close() {
      unsubscribe();
      for (const ws of clients) ws.terminate();
      wss.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      if (!opts.service) await service.dispose();
    },
  };
}
