// The engine host with fake engine processes: calls matched to answers, events forwarded, and a
// crash reported, restarted (on CPU after a GPU crash) with the pack and mix re-applied.
import { describe, expect, it } from 'vitest';
import type { CommandName, DeviceId, EngineState, EventName } from '../../main/api/contract.js';
import { EngineHost, type EngineProcess } from '../../main/app/engine-host.js';
import { serveEngine, type EngineMessage, type HostMessage } from '../../main/app/engine-protocol.js';

/** A fake engine process: answers with `serveEngine` over a fake service, and can crash. */
class FakeEngine implements EngineProcess {
  private onMsg: ((m: EngineMessage) => void) | null = null;
  private onEnd: ((code: number | null) => void) | null = null;
  private toEngine: ((m: HostMessage) => void) | null = null;
  emitEvent: (<E extends EventName>(e: E, p: unknown) => void) | null = null;
  readonly calls: { command: CommandName; args: unknown }[] = [];
  hang = false;

  constructor(readonly device: DeviceId) {
    const listeners = new Set<(e: EventName, p: unknown) => void>();
    this.emitEvent = (e, p) => listeners.forEach((cb) => cb(e, p));
    queueMicrotask(() =>
      serveEngine(
        {
          call: async (command, args) => {
            this.calls.push({ command, args });
            if (this.hang) return new Promise(() => {});
            if (command === 'setMix') {
              const mix = (args as { mix: Record<string, number> }).mix;
              if (mix.bad) throw Object.assign(new Error('setMix: field "mix.bad": no signature with id "bad"'), { code: 'bad-argument', field: 'mix.bad' });
              return { mix, key: Object.keys(mix).join(','), ms: 0.1 };
            }
            if (command === 'getState') return state(this.device, {});
            return { command };
          },
          onAny: (cb) => {
            listeners.add(cb as never);
            return () => listeners.delete(cb as never);
          },
        },
        { post: (m) => queueMicrotask(() => this.onMsg?.(m)), onMessage: (cb) => (this.toEngine = cb) },
        device,
      ),
    );
  }
  post(msg: HostMessage): void {
    queueMicrotask(() => this.toEngine?.(msg));
  }
  onMessage(cb: (msg: EngineMessage) => void): void {
    this.onMsg = cb;
  }
  onExit(cb: (code: number | null) => void): void {
    this.onEnd = cb;
  }
  kill(): void {}
  crash(code = 139): void {
    this.toEngine = null;
    this.onEnd?.(code);
  }
}

function state(device: string, mix: Record<string, number>, pack = true): EngineState {
  return {
    status: 'ready',
    pack: pack ? { id: 'p', name: 'P', dir: '/packs/p' } : null,
    device: { requested: device as DeviceId, device },
    mix,
    mixKey: Object.keys(mix).length ? Object.entries(mix).map(([k, v]) => `${k}=${v}`).join(',') : 'off',
    run: null,
    warnings: [],
  };
}

function setup(device: DeviceId = 'auto', maxCrashes = 5) {
  const spawned: FakeEngine[] = [];
  const events: { event: EventName; payload: any }[] = [];
  const host = new EngineHost({
    device,
    spawn: ({ device: d }) => {
      const e = new FakeEngine(d);
      spawned.push(e);
      return e;
    },
    onEvent: (event, payload) => events.push({ event, payload }),
    restartDelay: () => 5,
    maxCrashes,
  });
  return { host, spawned, events };
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(f()).toBe(true);
};

describe('EngineHost', () => {
  it('routes calls to the engine and returns their results and errors (with code and field)', async () => {
    const { host, spawned } = setup();
    await host.start();
    await expect(host.call('getPack', undefined)).resolves.toEqual({ command: 'getPack' });
    await expect(host.call('setMix', { mix: { bad: 1 } })).rejects.toMatchObject({ code: 'bad-argument', field: 'mix.bad', message: expect.stringContaining('mix.bad') });
    expect(spawned[0]!.calls.map((c) => c.command)).toEqual(['getPack', 'setMix']);
  });

  it('forwards engine events', async () => {
    const { host, spawned, events } = setup();
    await host.start();
    spawned[0]!.emitEvent!('progress', { kind: 'folder', phase: 'running', done: 3 });
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ event: 'progress', payload: { done: 3 } });
  });

  it('reports a crash, fails the calls in flight, restarts and re-applies the pack and mix', async () => {
    const { host, spawned, events } = setup('cpu');
    await host.start();
    spawned[0]!.emitEvent!('engineState', state('cpu', { fog: 0.8 }));
    await until(() => events.length === 1);
    spawned[0]!.hang = true;
    const inFlight = host.call('classifyFrame', {});
    await until(() => spawned[0]!.calls.length === 1);
    spawned[0]!.crash(139);
    await expect(inFlight).rejects.toMatchObject({ code: 'engine-crashed', message: expect.stringContaining('classifyFrame') });
    expect(events.find((e) => e.event === 'engineState' && e.payload.status === 'crashed')?.payload.message).toContain('exit code 139');
    await until(() => spawned.length === 2 && spawned[1]!.calls.length >= 3);
    expect(spawned[1]!.device).toBe('cpu');
    expect(spawned[1]!.calls.slice(0, 3)).toEqual([
      { command: 'loadPack', args: { dir: '/packs/p' } },
      { command: 'setMix', args: { mix: { fog: 0.8 } } },
      { command: 'getState', args: undefined },
    ]);
    // No device fallback on a CPU crash.
    expect(events.some((e) => e.event === 'deviceChange')).toBe(false);
    await expect(host.call('getPack', undefined)).resolves.toEqual({ command: 'getPack' });
  });

  it('restarts on CPU after a crash on a GPU provider, and says so', async () => {
    const { host, spawned, events } = setup('cuda');
    await host.start();
    spawned[0]!.emitEvent!('deviceChange', { requested: 'cuda', device: 'cuda' });
    await until(() => events.length === 1);
    spawned[0]!.crash(134);
    await until(() => spawned.length === 2);
    expect(spawned[1]!.device).toBe('cpu');
    expect(host.device).toBe('cpu');
    const change = events.filter((e) => e.event === 'deviceChange').at(-1)!.payload;
    expect(change).toMatchObject({ device: 'cpu', fallback: expect.stringContaining('cuda') });
  });

  it('gives up after repeated crashes instead of looping', async () => {
    const { host, spawned, events } = setup('cpu', 3);
    await host.start();
    for (let i = 0; i < 3; i++) {
      await until(() => spawned.length === i + 1);
      spawned[i]!.crash(1);
    }
    expect(host.status).toBe('failed');
    expect(events.at(-1)).toMatchObject({ event: 'engineState', payload: { status: 'error', message: expect.stringContaining('restart the app') } });
    await expect(host.call('getState', undefined)).rejects.toMatchObject({ code: 'engine-crashed' });
  });
});
