// The IPC layer: one handler per command of the contract, on its own channel, routed to the
// command service, which refuses bad arguments (naming the field) before any command runs.
import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHANNELS, COMMANDS, type CommandName } from '../../main/api/contract.js';
import { registerCommandHandlers } from '../../main/app/ipc/commands.js';
import type { IpcContext } from '../../main/app/ipc/context.js';
import { SettingsStore } from '../../main/app/settings.js';
import { fakeShell } from './fake-shell.js';
import { createService } from '../../main/service/index.js';
import { fakeFactory } from '../service/fake-classifier.js';
import { writeFixturePack } from '../service/fixture-pack.js';

async function fakeContext() {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-ipc-'));
  const packDir = writeFixturePack(path.join(tmp, 'pack'));
  const factory = fakeFactory();
  const service = await createService({ packDir, classifierFactory: factory });
  const handlers = new Map<string, (args: unknown) => Promise<unknown>>();
  const calls: CommandName[] = [];
  const settings = await SettingsStore.open(path.join(tmp, 'settings'));
  const ctx: IpcContext = {
    engine: {
      call: (command, args) => {
        calls.push(command);
        return service.call(command, args);
      },
    },
    settings,
    shell: fakeShell(),
    window: () => null,
    handle: (channel, fn) => {
      expect(handlers.has(channel)).toBe(false);
      handlers.set(channel, (args) => fn(args, {} as never));
    },
  };
  registerCommandHandlers(ctx);
  return { handlers, calls, settings, service, factory, packDir };
}

describe('IPC command handlers', () => {
  it('cover every command of the contract, each on its own channel', async () => {
    const { handlers } = await fakeContext();
    expect([...handlers.keys()].sort()).toEqual(COMMANDS.map((c) => CHANNELS[c]).sort());
  });

  it('route valid arguments to the command', async () => {
    const { handlers, calls, factory } = await fakeContext();
    const state = (await handlers.get(CHANNELS.setMix)!({ mix: { fog: 0.8 } })) as { key: string };
    expect(state.key).toBe('fog=0.8');
    expect(calls).toEqual(['setMix']);
    expect(factory.made.at(-1)!.mix).toEqual({ fog: 0.8 });
  });

  it('refuse bad arguments, naming the field, before any command runs', async () => {
    const { handlers, factory } = await fakeContext();
    const bad: [CommandName, unknown, string][] = [
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
    // No model was made: nothing ran.
    expect(factory.made).toHaveLength(0);
  });

  it('remember the pack folder and device for the next start, only when the command succeeded', async () => {
    const { handlers, settings, packDir } = await fakeContext();
    await expect(handlers.get(CHANNELS.loadPack)!({ dir: path.join(packDir, 'no-such-pack') })).rejects.toMatchObject({ code: expect.any(String) });
    await settings.flush();
    expect(settings.get().packDir).toBeUndefined();
    await handlers.get(CHANNELS.loadPack)!({ dir: packDir });
    await handlers.get(CHANNELS.setDevice)!({ device: 'cpu' });
    await settings.flush();
    expect(settings.get()).toMatchObject({ packDir, device: 'cpu' });
  });
});
