// The preload against a mocked `electron`: window.rws has exactly one function per command (no
// generic invoke), each on its own channel; errors keep their code; events never leak the IPC event.
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CHANNELS, COMMANDS, EVENT_CHANNELS, type RwsApi } from '../../main/api/contract.js';

const exposed = new Map<string, unknown>();
const invoke = vi.fn();
const on = vi.fn();
const removeListener = vi.fn();

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (name: string, value: unknown) => exposed.set(name, value) },
  ipcRenderer: { invoke, on, removeListener },
  webUtils: { getPathForFile: () => '/dropped/folder' },
}));

let rws: RwsApi;
beforeAll(async () => {
  await import('../../main/preload/index.js');
  rws = exposed.get('rws') as RwsApi;
});

describe('preload', () => {
  it('exposes one function per command plus on and the desktop-only helpers, nothing generic', () => {
    expect([...exposed.keys()].sort()).toEqual(['rws', 'rwsFiles']);
    const fns = Object.keys(rws).filter((k) => typeof (rws as unknown as Record<string, unknown>)[k] === 'function');
    expect(fns.sort()).toEqual([...COMMANDS, 'on', 'pickFolder', 'pickSaveFile', 'openPath'].sort());
    expect(rws.host).toBe('electron');
    expect(Object.keys(rws)).not.toContain('invoke');
    expect(Object.keys(rws)).not.toContain('send');
  });

  it('calls each command on its contract channel and unwraps the reply', async () => {
    for (const c of COMMANDS) {
      invoke.mockResolvedValueOnce({ ok: true, value: c });
      await expect((rws[c] as (a?: unknown) => Promise<unknown>)({ x: 1 })).resolves.toBe(c);
      expect(invoke).toHaveBeenLastCalledWith(CHANNELS[c], { x: 1 });
    }
  });

  it('rejects with the engine error message, code and field', async () => {
    invoke.mockResolvedValueOnce({ ok: false, error: { code: 'bad-argument', message: 'setMix: field "mix.fog": too big', field: 'mix.fog' } });
    await expect(rws.setMix({ mix: { fog: 9 } })).rejects.toMatchObject({ message: 'setMix: field "mix.fog": too big', code: 'bad-argument', field: 'mix.fog' });
  });

  it('subscribes to events on their channel and hands over only the payload', () => {
    const cb = vi.fn();
    const off = rws.on('progress', cb);
    const [channel, listener] = on.mock.calls.at(-1)!;
    expect(channel).toBe(EVENT_CHANNELS.progress);
    listener({ sender: 'ipc internals' }, { done: 1 });
    expect(cb).toHaveBeenCalledWith({ done: 1 });
    off();
    expect(removeListener).toHaveBeenCalledWith(EVENT_CHANNELS.progress, listener);
  });
});
