// The renderer alone in Debian's Chromium, against a stand-in window.rws (fixtures/mock-rws.js):
// conditions panel -> setMix, camera frames one at a time with the new mix on the next frame,
// folder run table/filter/export, evaluation charts, pack and device view, keyboard use, and
// screenshots at 1280×720 and 4K written to test/renderer/screenshots/ (look at them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const shots = path.join(here, 'screenshots');

if (!haveChromium) console.log(`test/renderer/ui.test.ts: SKIPPED, no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);

type Call = { name: string; args: unknown };

describe.skipIf(!haveChromium)('renderer in Chromium with a stand-in API', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  let browser: Browser;
  let page: Page;

  const calls = () => page.evaluate(() => (window as unknown as { __rwsCalls: Call[] }).__rwsCalls);
  const lastCall = async (name: string) => (await calls()).filter((c) => c.name === name).at(-1);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'rws-ui-'));
    const { build } = await import('vite');
    await build({ configFile: path.join(repo, 'renderer', 'vite.config.ts'), logLevel: 'error', build: { outDir: dir, emptyOutDir: true } });
    const mock = await readFile(path.join(here, 'fixtures', 'mock-rws.js'));
    server = http.createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
      if (rel === 'mock-rws.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(mock);
        return;
      }
      const file = path.join(dir, rel);
      if (!file.startsWith(dir) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      let body: Buffer | string = await readFile(file);
      const type = file.endsWith('.html') ? 'text/html' : file.endsWith('.css') ? 'text/css' : 'text/javascript';
      // The stand-in API loads first, from the same origin, so the page's own CSP allows it.
      if (rel === 'index.html') body = body.toString().replace('<script type="module"', '<script src="./mock-rws.js"></script>\n    <script type="module"');
      res.writeHead(200, { 'content-type': type }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(base);
    await page.getByText('Fashion-MNIST ResNet 1.0.0').waitFor();
    expect(errors).toEqual([]);
    await mkdir(shots, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the pack, the device and the clean model as the active mix', async () => {
    await expect(page.getByTestId('topbar-mix').textContent()).resolves.toContain('Off (clean model)');
    await expect(page.getByTestId('device').textContent()).resolves.toBe('cpu');
    await expect(page.getByRole('switch', { name: 'Fog' }).count()).resolves.toBe(1);
  });

  it('sends the mix of the conditions panel to the engine', async () => {
    await page.getByRole('switch', { name: 'Fog' }).check();
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: { fog: 1 } });
    // Strength with the keyboard: four steps of 0.05 down.
    const slider = page.getByRole('slider', { name: 'Fog strength' });
    await slider.focus();
    for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowLeft');
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: { fog: 0.8 } });
    await expect(page.getByTestId('active-mix').textContent()).resolves.toBe('Fog 80%');
    await page.getByTestId('mix-night-rain').click();
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: { 'low-light': 0.8, rain: 1 } });
    await expect(page.getByTestId('topbar-mix').textContent()).resolves.toContain('Rain 100%');
    await expect(page.getByRole('switch', { name: 'Fog' }).isChecked()).resolves.toBe(false);
    // A signature the pack cannot find: its condition cannot be switched on.
    await expect(page.getByRole('switch', { name: 'Motion blur' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('radio', { name: 'Off', exact: true }).click();
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: {} });
    // A change made elsewhere (another window, an engine restart) shows up in the panel.
    const before = (await calls()).filter((c) => c.name === 'setMix').length;
    await page.evaluate(() => (window as any).__rwsExternalMix({ snow: 0.5 }));
    await expect.poll(() => page.getByTestId('active-mix').textContent()).toBe('Snow 50%');
    await expect(page.getByRole('switch', { name: 'Snow' }).isChecked()).resolves.toBe(true);
    expect((await calls()).filter((c) => c.name === 'setMix').length).toBe(before);
    await page.getByRole('radio', { name: 'Off', exact: true }).click();
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: {} });
  });

  it('classifies camera frames one at a time, and a mix change acts on the next frame', async () => {
    await page.getByTestId('camera-start').click();
    await expect.poll(() => page.evaluate(() => (window as any).rwsCamera.frames()), { timeout: 15_000 }).toBeGreaterThan(5);
    await expect(page.getByTestId('topk-patched').locator('li').count()).resolves.toBe(5);
    await expect(page.getByTestId('topk-clean').locator('li').count()).resolves.toBe(5);
    const before = await page.evaluate(() => (window as any).rwsCamera.result().mixKey);
    expect(before).toBe('off');
    await page.getByRole('switch', { name: 'Low light' }).focus();
    await page.keyboard.press('Space');
    const framesAtSwitch: number = await page.evaluate(() => (window as any).rwsCamera.frames());
    await expect.poll(() => page.evaluate(() => (window as any).rwsCamera.result().mixKey)).toBe('low-light=1');
    const firstWithMix: number = await page.evaluate(() => (window as any).rwsCamera.frames());
    // At most the frame already in flight when the switch was pressed used the old mix.
    expect(firstWithMix - framesAtSwitch).toBeLessThanOrEqual(2);
    await page.getByTestId('simulate-select').selectOption('fog');
    // Some frames later (counted, not timed), still one frame in flight at most.
    const framesAtFog: number = await page.evaluate(() => (window as any).rwsCamera.frames());
    await expect.poll(() => page.evaluate(() => (window as any).rwsCamera.frames()), { timeout: 15_000 }).toBeGreaterThan(framesAtFog + 10);
    await expect(page.evaluate(() => (window as any).__rwsMaxInFlight)).resolves.toBe(1);
    const frame = (await calls()).filter((c) => c.name === 'classifyFrame').at(-1)!.args as Record<string, unknown>;
    expect(frame).toMatchObject({ width: 28, height: 28, channels: 1, compare: true, top: 5, data: 'Uint8Array(784)' });
    // Auto: the engine picks the condition per frame; the panel shows the pick and follows its mix.
    await page.getByTestId('mix-auto').click();
    await expect.poll(async () => (await page.getByTestId('auto-pick').textContent())!.replace(/\s+/g, ' ').trim()).toMatch(/^Using (Fog|Low light) · severity 3 · 87% sure$/);
    const frames = (await calls()).filter((c) => c.name === 'classifyFrame');
    expect((frames.at(-1)!.args as { auto?: boolean }).auto).toBe(true);
    await expect.poll(() => page.getByTestId('active-mix').textContent()).toMatch(/^(Fog|Low light) 80%$/);
    await page.screenshot({ path: path.join(shots, 'camera-auto-1280x720.png') });
    const setMixes = (await calls()).filter((c) => c.name === 'setMix').length;
    const framesAtPick: number = await page.evaluate(() => (window as any).rwsCamera.frames());
    await expect.poll(() => page.evaluate(() => (window as any).rwsCamera.frames()), { timeout: 15_000 }).toBeGreaterThan(framesAtPick + 5);
    expect((await calls()).filter((c) => c.name === 'setMix').length).toBe(setMixes);
    // A manual change takes over again.
    await page.getByRole('radio', { name: 'Off', exact: true }).click();
    await expect(page.getByTestId('mix-auto').getAttribute('aria-checked')).resolves.toBe('false');
    await expect.poll(async () => (await lastCall('setMix'))?.args).toEqual({ mix: {} });
    await page.getByRole('switch', { name: 'Low light' }).check();
    const parts: Record<string, number>[] = await page.evaluate(() => (window as any).rwsCamera.parts());
    const median = (k: string) => parts.map((p) => p[k]!).sort((a, b) => a - b)[Math.floor(parts.length / 2)]!.toFixed(2);
    console.log(`camera (stand-in engine), median ms: prepare ${median('prepare')}, mix wait ${median('wait')}, round trip ${median('classify')}, render ${median('show')}`);
    await page.screenshot({ path: path.join(shots, 'camera-1280x720.png') });
    await page.getByTestId('camera-stop').click();
  });

  it('runs a folder: progress, sortable and filterable results, failures, export', async () => {
    await page.keyboard.press('Alt+2');
    await expect(page.getByRole('button', { name: /Folder run/ }).getAttribute('aria-current')).resolves.toBe('page');
    await page.getByTestId('folder-input').fill('/data/shirts');
    await expect(page.getByTestId('folder-output').inputValue()).resolves.toBe('/data/shirts-rws');
    await page.getByTestId('folder-start').click();
    await expect.poll(() => page.getByTestId('folder-count').textContent(), { timeout: 20_000 }).toMatch(/^240 of 240 files/);
    expect(await lastCall('startFolderRun')).toMatchObject({ args: { inputs: ['/data/shirts'], output: '/data/shirts-rws', top: 3, mix: { 'low-light': 1 } } });
    await expect(page.getByTestId('run-mix').textContent()).resolves.toBe('low-light=1');
    await page.getByTestId('tab-failed').click();
    await expect(page.getByTestId('failures').locator('li').count()).resolves.toBe(5);
    await expect(page.getByTestId('failures').textContent()).resolves.toContain('truncated JPEG');
    await page.getByRole('tab', { name: /^Results/ }).click();
    const rows = page.getByTestId('results-table').locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(100);
    await page.getByRole('button', { name: 'Confidence' }).click();
    const scores = await page.getByTestId('results-table').locator('tbody td.num').allTextContents();
    const values = scores.map((s) => parseFloat(s));
    expect(values).toEqual([...values].sort((a, b) => b - a));
    await page.getByTestId('class-filter').selectOption({ index: 1 });
    const label = (await page.getByTestId('class-filter').locator('option').nth(1).textContent())!.replace(/ \(\d+\)$/, '');
    const labels = await page.getByTestId('results-table').locator('tbody td.label').allTextContents();
    expect(labels.length).toBeGreaterThan(0);
    expect(new Set(labels)).toEqual(new Set([label]));
    await page.getByTestId('class-filter').selectOption({ index: 0 });
    await page.getByTestId('export-csv').click();
    await expect.poll(async () => (await lastCall('exportResults'))?.args).toEqual({ format: 'csv', file: '/data/shirts-rws/results.csv' });
    await page.screenshot({ path: path.join(shots, 'folder-1280x720.png') });
  });

  it('stops a folder run and resumes it to the end', async () => {
    await page.getByTestId('folder-start').click();
    await expect.poll(async () => parseInt((await page.getByTestId('folder-count').textContent()) ?? '0', 10)).toBeGreaterThan(20);
    await page.getByTestId('folder-stop').click();
    await page.getByTestId('folder-resume').waitFor();
    const stoppedAt = parseInt((await page.getByTestId('folder-count').textContent())!, 10);
    expect(stoppedAt).toBeLessThan(235);
    await page.getByTestId('folder-resume').click();
    await expect.poll(() => page.getByTestId('folder-count').textContent(), { timeout: 20_000 }).toMatch(/^240 of 240 files/);
    expect(await lastCall('resumeFolderRun')).toMatchObject({ args: { output: '/data/shirts-rws' } });
    await expect.poll(() => page.getByTestId('results-table').locator('tbody tr').count()).toBe(100);
  });

  it('evaluates and charts accuracy vs severity per condition', async () => {
    await page.keyboard.press('Alt+3');
    await page.getByTestId('eval-run').click();
    await expect.poll(() => page.getByTestId('eval-charts').locator('canvas').count()).toBe(6);
    await expect(page.getByRole('img', { name: /^Fog: accuracy by severity/ }).count()).resolves.toBe(1);
    await page.screenshot({ path: path.join(shots, 'evaluation-1280x720.png') });
  });

  it('lists signatures with their base-model match and picks a device', async () => {
    await page.keyboard.press('Alt+4');
    const sigRows = page.locator('section.sigs tbody tr');
    await expect(sigRows.count()).resolves.toBe(6);
    await expect(sigRows.nth(3).textContent()).resolves.toContain('transfer');
    await expect(page.getByRole('radio', { name: 'CUDA', exact: true }).isDisabled()).resolves.toBe(true);
    await expect(page.getByRole('radio').first().getAttribute('value')).resolves.toBe('auto');
    await page.getByRole('radio', { name: 'CPU', exact: true }).check();
    await expect.poll(async () => (await lastCall('setDevice'))?.args).toEqual({ device: 'cpu' });
    await page.screenshot({ path: path.join(shots, 'packs-1280x720.png') });
  });

  it('gives every control a name screen readers can announce, in every view', async () => {
    for (const key of ['1', '2', '3', '4']) {
      await page.keyboard.press(`Alt+${key}`);
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('button, input, select, textarea, [role="switch"], [role="tab"]')]
          .filter((el) => el.offsetParent !== null || el.getAttribute('role') === 'switch')
          .filter((el) => {
            const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title;
            return !labelled && !(el.tagName === 'BUTTON' && el.textContent?.trim());
          })
          .map((el) => el.outerHTML.slice(0, 120)),
      );
      expect(unnamed, `view ${key}`).toEqual([]);
    }
  });

  it('can be driven from the keyboard alone: Tab reaches the views, the conditions and the run controls', async () => {
    await page.keyboard.press('Alt+1');
    const reached = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.textContent?.trim().slice(0, 20) ?? ''));
    }
    for (const id of ['camera-start', 'simulate-select', 'condition-fog', 'mix-night-rain']) expect(reached).toContain(id);
    expect(reached).toContain('mode-off');
  });

  it('stays readable on a 4K screen', async () => {
    await page.setViewportSize({ width: 3840, height: 2160 });
    await page.keyboard.press('Alt+2');
    const rootPx = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    expect(rootPx).toBeGreaterThanOrEqual(20);
    await page.screenshot({ path: path.join(shots, 'folder-3840x2160.png') });
    await page.setViewportSize({ width: 1280, height: 720 });
  });
});
