import type { EventName, RwsEvents } from '../api/contract.js';

type Listener<E extends EventName> = (payload: RwsEvents[E]) => void;

/** The contract's events, typed; transports subscribe once and forward everything. */
export class EventHub {
  private readonly listeners = new Map<EventName, Set<Listener<never>>>();
  private readonly all = new Set<<E extends EventName>(event: E, payload: RwsEvents[E]) => void>();

  on<E extends EventName>(event: E, cb: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(cb as Listener<never>);
    return () => set!.delete(cb as Listener<never>);
  }

  /** Every event, for a transport that forwards them (IPC, WebSocket). */
  onAny(cb: <E extends EventName>(event: E, payload: RwsEvents[E]) => void): () => void {
    this.all.add(cb);
    return () => this.all.delete(cb);
  }

  emit<E extends EventName>(event: E, payload: RwsEvents[E]): void {
    for (const cb of this.listeners.get(event) ?? []) safe(() => (cb as Listener<E>)(payload));
    for (const cb of this.all) safe(() => cb(event, payload));
  }
}

function safe(f: () => void): void {
  try {
    f();
  } catch (e) {
    console.error(e);
  }
}
