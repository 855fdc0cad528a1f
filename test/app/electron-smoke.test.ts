// Launches the real desktop app with Playwright's `_electron` where the Electron binary exists
// (it cannot be downloaded on our build machines: there this test says plainly that it skipped).
// Needs `npm run build:app` (it builds when out/main is missing).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ElectronApplication, Page } from 'playwright-core';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function electronBinary(): string | null {
  try {
    // The electron package exports the binary's path, and throws when the binary was never installed.
    const p = createRequire(import.meta.url)('electron') as unknown as string;
    return typeof p === 'string' && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
if (!binary) {
  console.log('test/app/electron-smoke.test.ts: SKIPPED, the Electron binary is not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD); run it where `npx electron --version` works.');
}

describe.skipIf(!binary)('Electron app (smoke)', () => {
  let app: ElectronApplication;
  let win: Page;

  beforeAll(async () => {
    if (!existsSync(path.join(repo, 'out', 'main', 'index.js')) || !existsSync(path.join(repo, 'dist', 'main', 'service', 'index.js'))) {
      execFileSync('npm', ['run', 'build:app'], { cwd: repo, stdio: 'inherit' });
    }
    const { _electron } = await import('playwright-core');
    const userData = mkdtempSync(path.join(os.tmpdir(), 'rws-electron-'));
    // Chromium refuses to run as root without --no-sandbox (CI containers).
    const rootArgs = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
    app = await _electron.launch({ executablePath: binary!, args: [...rootArgs, repo, `--user-data-dir=${userData}`], cwd: repo });
    win = await app.firstWindow();
    await win.waitForLoadState('domcontentloaded');
  }, 120_000);

  afterAll(async () => {
    await app?.close();
  });

  it('loads the UI from app://rws with Node kept out of the page', async () => {
    expect(win.url()).toBe('app://rws/index.html');
    await win.getByRole('heading', { name: 'RWS Studio' }).waitFor();
    expect(await win.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined');
    expect(await win.evaluate(() => typeof (globalThis as { process?: unknown }).process)).toBe('undefined');
    expect(await win.evaluate(() => (window as unknown as { rws: { host: string } }).rws.host)).toBe('electron');
  });

  it('keeps the preload world isolated from the page', async () => {
    // With contextIsolation the page sees only what contextBridge copied over, never ipcRenderer.
    const seen = await win.evaluate(() => ({
      ipc: typeof (globalThis as { ipcRenderer?: unknown }).ipcRenderer,
      module: typeof (globalThis as { module?: unknown }).module,
      rwsKeys: Object.keys((window as unknown as { rws: object }).rws).length,
    }));
    expect(seen).toEqual({ ipc: 'undefined', module: 'undefined', rwsKeys: expect.any(Number) });
    expect(seen.rwsKeys).toBeGreaterThan(18);
  });

  it('answers commands from the engine utility process', async () => {
    const state = await win.evaluate(() => (window as unknown as { rws: { getState(): Promise<{ status: string }> } }).rws.getState());
    expect(['idle', 'loading', 'ready', 'starting', 'error']).toContain(state.status);
  });

  it('shows a folder run in the window title and the taskbar, notifies its end, and opens its folder through the shell', async () => {
    // Record what the app asks of the desktop instead of showing it (the window is put behind, as a
    // user who went to another window would have it, so the notification is due).
    await app.evaluate(({ BrowserWindow, Notification, shell }) => {
      const seen = { progress: [] as number[], notes: [] as string[], opened: [] as string[] };
      (globalThis as { rwsSeen?: typeof seen }).rwsSeen = seen;
      const proto = BrowserWindow.prototype as unknown as { setProgressBar(v: number, o?: unknown): void };
      const setProgressBar = proto.setProgressBar;
      proto.setProgressBar = function (v: number, o?: unknown) {
        seen.progress.push(v);
        return setProgressBar.call(this, v, o);
      };
      Notification.prototype.show = function (this: Electron.Notification) {
        seen.notes.push(`${this.title}: ${this.body}`);
      };
      Object.defineProperty(shell, 'openPath', { value: async (p: string) => (seen.opened.push(p), ''), configurable: true, writable: true });
      for (const w of BrowserWindow.getAllWindows()) w.blur();
    });
    const out = mkdtempSync(path.join(os.tmpdir(), 'rws-electron-run-'));
    const samples = path.join(repo, 'native-models', 'fashion-mnist', 'samples');
    await win.evaluate(({ samples, out }) => (window as unknown as { rws: { startFolderRun(a: unknown): Promise<unknown> } }).rws.startFolderRun({ inputs: [samples], output: out }), { samples, out });
    await expect.poll(() => win.title(), { timeout: 60_000 }).toMatch(/^Done · Folder run/);
    const seen = await app.evaluate(() => (globalThis as unknown as { rwsSeen: { progress: number[]; notes: string[]; opened: string[] } }).rwsSeen);
    expect(seen.progress.length).toBeGreaterThan(1);
    expect(seen.progress.at(-1)).toBe(-1);
    expect(seen.notes.some((n) => n.startsWith('Folder run finished:') && n.includes(out))).toBe(true);
    await win.evaluate((out) => (window as unknown as { rws: { openPath(p: string): Promise<void> } }).rws.openPath(out), out);
    expect((await app.evaluate(() => (globalThis as unknown as { rwsSeen: { opened: string[] } }).rwsSeen)).opened).toEqual([out]);
  });

  it('refuses to navigate away from the app', async () => {
    await win.evaluate(() => {
      location.href = 'https://example.com/';
    });
    await win.waitForTimeout(500);
    expect(win.url()).toBe('app://rws/index.html');
  });
});
