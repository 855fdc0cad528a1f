// The app's gallery while a large folder run streams its results: `rws serve` in this process with
// the default pack on CPU, the built UI in Debian's Chromium, a run of RWS_BENCH_GALLERY_IMAGES
// (default 50,000) small pictures started from the Folder run view with the results shown as a
// gallery. The page's main thread is watched with the Long Tasks API (tasks over 50 ms) and with
// the gaps between animation frames, while results stream and after the run ends.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium } from 'playwright-core';
import { createHttpClient } from '../../main/api/http-client.js';
import { installRoot } from '../../main/engine/io/install-root.js';
import { defaultPackDir } from '../../main/engine/packs/pack.js';
import { startServer } from '../../main/serve/server.js';
import { ensureBuilt } from '../e2e/build.js';
import { CHROMIUM, haveChromium } from '../e2e/setup.js';
import { writeFixturePack } from '../service/fixture-pack.js';
import type { BenchSection } from './section.js';

const IMAGES = Number(process.env.RWS_BENCH_GALLERY_IMAGES ?? 50_000);

/** What the page measured: long tasks (ms) and frame gaps (ms), split at the run's end. */
interface PageWatch {
  streaming: { long: number[]; gap: number };
  after: { long: number[]; gap: number };
}

/**
 * Installed in the page (as text: this file is compiled without the DOM's types): long tasks and
 * the longest gap between animation frames, recorded under the current phase.
 */
const WATCH = `(() => {
  const w = window;
  w.watch = { phase: 'streaming', streaming: { long: [], gap: 0 }, after: { long: [], gap: 0 } };
  new PerformanceObserver((list) => list.getEntries().forEach((e) => w.watch[w.watch.phase].long.push(e.duration))).observe({ type: 'longtask' });
  let last = performance.now();
  const frame = (t) => {
    const part = w.watch[w.watch.phase];
    part.gap = Math.max(part.gap, t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})()`;

export async function benchGallery(): Promise<BenchSection> {
  if (!haveChromium) return { title: 'Gallery while results stream (skipped: no Chromium)', rows: [] };
  ensureBuilt(installRoot());
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rws-bench-gallery-'));
  const images = path.join(tmp, 'images');
  // Ten different small pictures, copied to IMAGES files in folders of 1,000.
  const seeds: string[] = [];
  for (let k = 0; k < 10; k++) {
    const f = path.join(tmp, `seed-${k}.png`);
    await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 20 * k, g: 20 * k, b: 20 * k } } }).greyscale().png().toFile(f);
    seeds.push(f);
  }
  for (let i = 0; i < IMAGES; i++) {
    const dir = path.join(images, String(Math.floor(i / 1000)).padStart(3, '0'));
    if (i % 1000 === 0) mkdirSync(dir, { recursive: true });
    copyFileSync(seeds[i % seeds.length]!, path.join(dir, `${String(i).padStart(6, '0')}.png`));
  }
  const packDir = existsSync(path.join(defaultPackDir(), 'pack.json')) ? defaultPackDir() : writeFixturePack(path.join(tmp, 'pack'));
  const server = await startServer({ port: 0, roots: [tmp], packDir });
  const base = server.url.replace(/\/$/, '');
  const api = createHttpClient({ baseUrl: base });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`${base}/`);
    await page.getByText('ready', { exact: true }).waitFor({ timeout: 120_000 });
    await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Folder run' }).click();
    await page.getByTestId('folder-input').fill(images);
    await page.getByTestId('folder-output').fill(path.join(tmp, 'results'));
    await page.getByTestId('layout-gallery').click();
    await page.evaluate(WATCH);
    const t0 = performance.now();
    await page.getByTestId('folder-start').click();
    // Streaming: until the engine says the run is done.
    for (;;) {
      const p = (await api.getFolderResults({ limit: 1 }).catch(() => undefined))?.progress;
      if (p && p.output === path.join(tmp, 'results') && p.phase === 'done') break;
      if (p?.phase === 'failed') throw new Error(`the run failed: ${p.message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (performance.now() - t0) / 1000;
    await page.evaluate('window.watch.phase = "after"');
    await page.getByTestId('run-phase').filter({ hasText: 'done' }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(3000);
    const watch = (await page.evaluate('window.watch')) as PageWatch;
    const worst = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
    const shown = await page.getByTestId('tile').count();
    return {
      title: `Gallery while a ${IMAGES.toLocaleString('en-US')}-image folder run streams its results (Chromium, Long Tasks API)`,
      rows: [
        { name: 'worst main-thread task while results stream', value: worst(watch.streaming.long), unit: 'ms', target: '≤ 50 ms', note: watch.streaming.long.length ? `${watch.streaming.long.length} tasks over 50 ms` : 'no task over 50 ms (0 = none seen)' },
        { name: 'longest gap between frames while results stream', value: watch.streaming.gap, unit: 'ms' },
        { name: 'worst main-thread task after the run (final state, failures)', value: worst(watch.after.long), unit: 'ms', note: `${watch.after.long.length} tasks over 50 ms` },
        { name: 'folder run through the app', value: IMAGES / seconds, unit: 'images/s', note: `${seconds.toFixed(1)} s; ${shown} tiles on the gallery page` },
      ],
    };
  } finally {
    await browser.close().catch(() => {});
    api.close();
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
