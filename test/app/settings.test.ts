import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSettings, SETTINGS_FILE, SettingsStore } from '../../main/app/settings.js';
import { DEFAULT_WINDOW_STATE } from '../../main/app/policy.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rws-settings-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('settings', () => {
  it('start from defaults when the file is missing, broken or invalid', async () => {
    expect((await SettingsStore.open(dir)).get()).toEqual({ window: DEFAULT_WINDOW_STATE, device: 'auto' });
    expect(parseSettings('{not json')).toEqual({ window: DEFAULT_WINDOW_STATE, device: 'auto' });
    expect(parseSettings(JSON.stringify({ device: 'quantum' })).device).toBe('auto');
  });

  it('persist window state, pack and device across a restart', async () => {
    const a = await SettingsStore.open(dir);
    await a.setWindow({ x: 10, y: 20, width: 1500, height: 900, maximized: true });
    await a.update({ packDir: '/packs/street', device: 'cpu' });
    const b = await SettingsStore.open(dir);
    expect(b.get()).toEqual({ window: { x: 10, y: 20, width: 1500, height: 900, maximized: true }, packDir: '/packs/street', device: 'cpu' });
  });

  it('write atomically: no temp files left, the last of many quick updates wins', async () => {
    const s = await SettingsStore.open(dir);
    const writes = [];
    for (let i = 0; i < 20; i++) writes.push(s.setWindow({ width: 1000 + i, height: 700, maximized: false }));
    await Promise.all(writes);
    await s.flush();
    expect(await readdir(dir)).toEqual([SETTINGS_FILE]);
    expect(JSON.parse(await readFile(path.join(dir, SETTINGS_FILE), 'utf8')).window.width).toBe(1019);
  });

  it('ignore a file another program damaged', async () => {
    await writeFile(path.join(dir, SETTINGS_FILE), '{"window": {"width": "wide"}}');
    expect((await SettingsStore.open(dir)).get().window).toEqual(DEFAULT_WINDOW_STATE);
  });
});
