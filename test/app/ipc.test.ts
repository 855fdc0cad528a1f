// One IPC handler per command: every command of the contract has one, on its channel, and each
// validates its arguments with the contract's schema before the engine sees them.
import { describe, expect, it, vi } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHANNELS, COMMANDS } from '../../main/api/contract.js';
import { COMMAND_HANDLERS, registerCommandHandlers } from '../../main/app/ipc/commands.js';
import type { IpcContext } from '../../main/app/ipc/context.js';
import { SettingsStore } from '../../main/app/settings.js';

async function fakeContext() {
  const handlers = new Map<string, (args: unknown) => Promise<unknown>>();
  const call = vi.fn(async (command: string, args: unknown) => ({ command, args }));
  const settings = await SettingsStore.open(await mkdtemp(path.join(os.tmpdir(), 'rws-ipc-')));
  const ctx: IpcContext = {
    engine: { call },
    settings,
    window: () => null,
    handle: (channel, fn) => {
      expect(handlers.has(channel)).toBe(false);
      handlers.set(channel, (args) => fn(args, {} as never));
    },
  };
  registerCommandHandlers(ctx);
  return { handlers, call, settings };
}

describe('IPC command handlers', () => {
  it('cover every command of the contract, each on its own channel', async () => {
    expect(Object.keys(COMMAND_HANDLERS).sort()).toEqual([...COMMANDS].sort());
    const { handlers } = await fakeContext();
    expect([...handlers.keys()].sort()).toEqual(COMMANDS.map((c) => CHANNELS[c]).sort());
  });

  it('route valid arguments to the engine', async () => {
    const { handlers, call } = await fakeContext();
    await expect(handlers.get(CHANNELS.setMix)!({ mix: { fog: 0.8 } })).resolves.toEqual({ command: 'setMix', args: { mix: { fog: 0.8 } } });
    const frame = { width: 2, height: 1, channels: 1, data: new Float32Array([0.1, 0.9]), compare: true };
    await handlers.get(CHANNELS.classifyFrame)!(frame);
    expect(call).toHaveBeenLastCalledWith('classifyFrame', frame);
  });

  it('refuse bad arguments, naming the field, before the engine sees them', async () => {
    const { handlers, call } = await fakeContext();
    const bad: [keyof typeof CHANNELS, unknown, string][] = [
      ['setMix', { mix: { Fog: 1 } }, 'mix'],
      ['setMix', { mix: { fog: 99 } }, 'mix'],
      ['setDevice', { device: 'tpu' }, 'device'],
      ['classifyFrame', { width: 2, height: 2, channels: 1, data: [0, 1, 2] }, 'data'],
      ['startFolderRun', { inputs: [], output: '/tmp/x' }, 'inputs'],
      ['exportResults', { format: 'xml', file: '/tmp/x' }, 'format'],
      ['loadPack', { dir: '/p', extra: true }, '(arguments)'],
      ['browse', {}, 'dir'],
    ];
    for (const [command, args, field] of bad) {
      await expect(handlers.get(CHANNELS[command])!(args), command).rejects.toMatchObject({ code: 'bad-argument', field: expect.stringContaining(field === '(arguments)' ? '' : field) });
    }
    expect(call).not.toHaveBeenCalled();
  });

  it('remember the pack folder and device for the next start', async () => {
    const { handlers, settings } = await fakeContext();
    await handlers.get(CHANNELS.loadPack)!({ dir: '/packs/street' });
    await handlers.get(CHANNELS.setDevice)!({ device: 'cpu' });
    await settings.flush();
    expect(settings.get()).toMatchObject({ packDir: '/packs/street', device: 'cpu' });
  });
});
