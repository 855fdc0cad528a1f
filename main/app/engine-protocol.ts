// Messages between the Electron main process and the engine's utility process, and the engine
// side's loop. No Electron import: the loop is tested in Node with a fake service.
import type { ApiError, CommandName, EventName, RwsEvents } from '../api/contract.js';
import { toApiError } from '../api/errors.js';

/** Main -> engine. */
export type HostMessage = { type: 'call'; id: number; command: CommandName; args: unknown };

/** Engine -> main. */
export type EngineMessage =
  | { type: 'ready'; device: string }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: ApiError }
  | { type: 'event'; event: EventName; payload: RwsEvents[EventName] }
  | { type: 'fatal'; error: ApiError };

/** What the engine loop needs of the command service (main/service's `Service`). */
export interface ServiceLike {
  call(command: CommandName, args: unknown): Promise<unknown>;
  onAny(cb: <E extends EventName>(event: E, payload: RwsEvents[E]) => void): () => void;
}

/**
 * Serve a command service over a message channel: every call is answered once (ok or error), every
 * service event is forwarded. Calls run concurrently; the engine itself serialises model work.
 */
export function serveEngine(
  service: ServiceLike,
  io: { post(msg: EngineMessage): void; onMessage(cb: (msg: HostMessage) => void): void },
  device: string,
): void {
  service.onAny((event, payload) => io.post({ type: 'event', event, payload }));
  io.onMessage((msg) => {
    if (!msg || msg.type !== 'call' || typeof msg.id !== 'number') return;
    service.call(msg.command, msg.args).then(
      (value) => io.post({ type: 'result', id: msg.id, ok: true, value }),
      (e) => io.post({ type: 'result', id: msg.id, ok: false, error: toApiError(e) }),
    );
  });
  io.post({ type: 'ready', device });
}
