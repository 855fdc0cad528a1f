/**
 * RwsApi over `rws serve`: each command is POST /api/<command> (wire JSON), events arrive on the
 * /ws WebSocket. The renderer uses this when `window.rws` (the Electron preload) is absent.
 * Pure TS (browser and Node 20+ with a WebSocket implementation passed in).
 */
import {
  COMMANDS,
  HTTP,
  type ApiError,
  type CommandName,
  type ConnectionState,
  type EventName,
  type RwsApi,
  type RwsEvents,
  type UploadDone,
  type CommandArgs,
} from './contract.js';
import { fromApiError } from './errors.js';
import { decodeWire, encodeWire } from './wire.js';

/** The subset of the WebSocket API the client uses (browser WebSocket or the `ws` package). */
interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(): void;
}
type SocketCtor = new (url: string) => SocketLike;

export interface HttpClientOptions {
  /** Server origin, e.g. `http://127.0.0.1:7860`; default the page's origin. */
  baseUrl?: string;
  /** Access token (only when the server binds a non-loopback address); default the page's `?token=`. */
  token?: string;
  fetch?: typeof fetch;
  WebSocket?: SocketCtor;
  /** Largest request body the client builds when uploading (bytes); the server refuses bigger ones. */
  maxUploadBatch?: number;
  /** Commands sent over the event socket while it is open (default the camera path: classifyFrame, setMix). */
  socketCommands?: CommandName[];
  /**
   * After this long without a word from the server, the client asks for the state over the socket;
   * after twice this long without an answer, it takes the connection as lost and opens another
   * (a server that stopped, or a network that dropped, does not always close the socket). Default 4 s.
   */
  heartbeatMs?: number;
}

/** The RwsApi client plus `close()` for the event socket. */
export type HttpRwsApi = RwsApi & { close(): void };

function pageLocation(): { origin: string; search: string } | undefined {
  const loc = (globalThis as { location?: { origin: string; search: string } }).location;
  return loc && typeof loc.origin === 'string' ? loc : undefined;
}

/** Create the browser-side RwsApi that talks to `rws serve`. */
export function createHttpClient(opts: HttpClientOptions = {}): HttpRwsApi {
  const loc = pageLocation();
  const base = (opts.baseUrl ?? loc?.origin ?? '').replace(/\/$/, '');
  const token = opts.token ?? (loc ? new URLSearchParams(loc.search).get(HTTP.tokenParam) ?? undefined : undefined);
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const Socket = opts.WebSocket ?? (globalThis as { WebSocket?: SocketCtor }).WebSocket;
  const maxBatch = opts.maxUploadBatch ?? 16 * 1024 * 1024;

  const socketCommands = new Set<CommandName>(opts.socketCommands ?? ['classifyFrame', 'setMix']);
  let nextId = 1;
  const inflight = new Map<number, { command: CommandName; args: unknown; resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  async function call(command: CommandName, args: unknown): Promise<unknown> {
    const s = socket;
    if (s && s.readyState === 1 && socketCommands.has(command)) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        inflight.set(id, { command, args, resolve, reject });
        s.send(encodeWire({ id, command, args }));
      });
    }
    return callHttp(command, args);
  }

  async function callHttp(command: CommandName, args: unknown): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers[HTTP.tokenHeader] = token;
    let res: Response;
    try {
      res = await doFetch(`${base}${HTTP.api(command)}`, {
        method: 'POST',
        headers,
        body: args === undefined ? '' : encodeWire(args),
        credentials: 'same-origin',
      });
    } catch (e) {
      // fetch rejects only when no answer came at all: the server is gone or unreachable.
      lost();
      throw fromApiError({ code: 'connection-lost', message: `${command}: the engine cannot be reached (${(e as Error).message})` });
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? decodeWire(text) : undefined;
    } catch {
      throw fromApiError({ code: 'transport', message: `${command}: the server answered ${res.status} with something that is not JSON` });
    }
    if (!res.ok) {
      const err = (body as { error?: ApiError } | undefined)?.error;
      throw fromApiError(err ?? { code: 'transport', message: `${command}: the server answered ${res.status}` });
    }
    return body;
  }

  // Events: one socket, opened on the first subscription, reopened after a drop.
  const listeners = new Map<EventName, Set<(payload: never) => void>>();
  let socket: SocketLike | undefined;
  let closed = false;
  let retry = 250;

  // The connection as the UI shows it: open, or lost (and how many tries since).
  const connListeners = new Set<(c: ConnectionState) => void>();
  let conn: ConnectionState = { state: 'connecting', attempts: 0 };
  function setConn(next: ConnectionState): void {
    if (next.state === conn.state && next.attempts === conn.attempts) return;
    conn = next;
    for (const cb of connListeners) {
      try {
        cb(conn);
      } catch (e) {
        console.error(e);
      }
    }
  }
  /** An HTTP call got no answer: the socket is likely dead too; reconnect it, which says when the server is back. */
  function lost(): void {
    if (conn.state !== 'open') return;
    setConn({ state: 'lost', attempts: 0 });
    if (socket) drop(socket);
  }

  // Heartbeat: a quiet socket is asked for the state; one that does not answer is dropped.
  const beat = opts.heartbeatMs ?? 4000;
  let lastHeard = Date.now();
  let beatTimer: ReturnType<typeof setInterval> | undefined;
  function heartbeat(s: SocketLike): void {
    clearInterval(beatTimer);
    lastHeard = Date.now();
    let asked = false;
    beatTimer = setInterval(() => {
      if (socket !== s) return clearInterval(beatTimer);
      const quiet = Date.now() - lastHeard;
      if (quiet > 2 * beat) {
        clearInterval(beatTimer);
        drop(s);
      } else if (quiet > beat && !asked && s.readyState === 1) {
        asked = true;
        const id = nextId++;
        inflight.set(id, { command: 'getState', args: undefined, resolve: () => (asked = false), reject: () => (asked = false) });
        s.send(encodeWire({ id, command: 'getState' }));
      }
    }, Math.max(50, beat / 4));
  }

  /** Give up on a socket: its handlers are cut and the reconnection starts at once. */
  function drop(s: SocketLike): void {
    const onclose = s.onclose;
    s.onopen = s.onmessage = s.onclose = null;
    try {
      s.close();
    } catch {
      // already closing
    }
    onclose?.(undefined);
  }

  function openSocket(): void {
    if (socket || closed || !Socket) return;
    const wsBase = base ? base.replace(/^http/, 'ws') : '';
    const url = `${wsBase}${HTTP.ws}${token ? `?${HTTP.tokenParam}=${encodeURIComponent(token)}` : ''}`;
    const s = new Socket(url);
    socket = s;
    s.onopen = () => {
      setConn({ state: 'open', attempts: 0 });
      heartbeat(s);
    };
    s.onmessage = (ev) => {
      retry = 250;
      lastHeard = Date.now();
      let msg: { event?: EventName; payload?: unknown; id?: number; result?: unknown; error?: ApiError };
      try {
        msg = decodeWire(typeof ev.data === 'string' ? ev.data : String(ev.data)) as typeof msg;
      } catch {
        return;
      }
      if (typeof msg.id === 'number') {
        const p = inflight.get(msg.id);
        inflight.delete(msg.id);
        if (p && msg.error) p.reject(fromApiError(msg.error));
        else p?.resolve(msg.result);
        return;
      }
      if (!msg.event) return;
      for (const cb of listeners.get(msg.event) ?? []) {
        try {
          (cb as (p: unknown) => void)(msg.payload);
        } catch (e) {
          console.error(e);
        }
      }
    };
    s.onerror = () => {};
    s.onclose = () => {
      if (socket !== s) return;
      socket = undefined;
      clearInterval(beatTimer);
      if (!closed) setConn(conn.state === 'connecting' ? conn : { state: 'lost', attempts: conn.state === 'lost' ? conn.attempts + 1 : 0 });
      // Calls the socket took but did not answer go again over HTTP.
      for (const [id, p] of inflight) {
        inflight.delete(id);
        callHttp(p.command, p.args).then(p.resolve, p.reject);
      }
      if (closed) return;
      setTimeout(openSocket, retry);
      retry = Math.min(retry * 2, 5000);
    };
  }

  async function uploadFiles(args: CommandArgs<'uploadFiles'>): Promise<UploadDone> {
    // Split into requests the server accepts; the first answer names the folder the rest go to.
    let folder = args.folder;
    let written = 0;
    let batch: { name: string; data: Uint8Array }[] = [];
    let size = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const done = (await call('uploadFiles', folder ? { folder, files: batch } : { files: batch })) as UploadDone;
      folder = done.folder;
      written += done.written;
      batch = [];
      size = 0;
    };
    for (const f of args.files) {
      const cost = Math.ceil((f.data.byteLength * 4) / 3) + f.name.length + 64;
      if (batch.length > 0 && (size + cost > maxBatch || batch.length >= 500)) await flush();
      batch.push(f);
      size += cost;
    }
    await flush();
    return { folder: folder!, written };
  }

  const api: Record<string, unknown> = {
    host: 'browser',
    on<E extends EventName>(event: E, cb: (payload: RwsEvents[E]) => void): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(cb as (payload: never) => void);
      openSocket();
      return () => set!.delete(cb as (payload: never) => void);
    },
    onConnection(cb: (c: ConnectionState) => void): () => void {
      connListeners.add(cb);
      cb(conn);
      openSocket();
      return () => connListeners.delete(cb);
    },
    close(): void {
      closed = true;
      clearInterval(beatTimer);
      socket?.close();
      socket = undefined;
    },
  };
  for (const command of COMMANDS) api[command] = (args?: unknown) => call(command, args);
  api.uploadFiles = uploadFiles;
  return api as unknown as HttpRwsApi;
}
