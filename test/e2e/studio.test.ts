// End to end in a real browser: `rws serve` (the built CLI) + Debian's Chromium driven by
// playwright-core (no browser download). Loads the default pack (or, until it is in the tree, a
// fixture pack), toggles Fog, runs a folder of generated images, exports the results, and runs the
// camera view on Chromium's fake camera fed with a generated Y4M of fogged Fashion-MNIST images.
// Screenshots of each view at 1280×720 go to test/e2e/screenshots/ (gitignored).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt } from '../../main/core/corruptions/index.js';
import { createHttpClient, type HttpRwsApi } from '../../main/api/http-client.js';
import { writeFixturePack } from '../service/fixture-pack.js';
import { makeHostileRoot, writeHostilePack } from '../fixtures/hostile-pack.js';
import { ensureBuilt } from './build.js';
import { CHROMIUM, DEFAULT_PACK, haveChromium, type Labelled, ROOT, sampleImages, SHOTS, writePng } from './setup.js';
import { LAYOUT, markedY4m } from './y4m.js';

if (!haveChromium) console.log(`e2e: skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

let tmp: string;
let root: string;
let server: ChildProcess | undefined;
let baseUrl: string;
let api: HttpRwsApi;
let context: BrowserContext;
let page: Page;
let usingDefaultPack = false;
let labelled: Labelled[] = [];
let fogged: Labelled[] = [];
let realData = false;
const FOLDER_IMAGES = 24;
const CAMERA_IMAGES = 120;

async function screenshot(name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

async function openView(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name }).click();
}

describe.skipIf(!haveChromium)('RWS Studio in Chromium against rws serve', () => {
  beforeAll(async () => {
    ensureBuilt(ROOT);
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-e2e-')));
    root = path.join(tmp, 'root');
    mkdirSync(path.join(root, 'images'), { recursive: true });

    usingDefaultPack = existsSync(path.join(DEFAULT_PACK, 'pack.json'));
    const pack = usingDefaultPack ? DEFAULT_PACK : writeFixturePack(path.join(tmp, 'pack'));
    console.log(`e2e: pack ${usingDefaultPack ? 'native-models/fashion-mnist' : 'fixture (the default pack is not in the tree yet)'}`);

    // Folder-run inputs: fogged images in class folders, and one file that is not an image.
    ({ images: labelled, real: realData } = await sampleImages(Math.max(FOLDER_IMAGES, CAMERA_IMAGES)));
    fogged = labelled.map((im, i) => ({ ...im, data: corrupt({ width: 28, height: 28, channels: 1, data: im.data }, 'fog', 3, 1000 + i).data }));
    for (let i = 0; i < FOLDER_IMAGES; i++) {
      const dir = path.join(root, 'images', `class-${fogged[i]!.label}`);
      mkdirSync(dir, { recursive: true });
      await writePng(path.join(dir, `img ${String(i).padStart(3, '0')}.png`), fogged[i]!.data);
    }
    writeFileSync(path.join(root, 'images', 'not-an-image.png'), 'this is text');

    // Camera: the fogged images as a video, one frame each, with the index strip.
    const video = path.join(tmp, 'camera.y4m');
    writeFileSync(video, markedY4m(fogged.slice(0, CAMERA_IMAGES).map((im) => ({ size: 28, data: im.data })), 10));

    server = spawn(process.execPath, [path.join(ROOT, 'bin', 'rws.js'), 'serve', '--port', '0', '--root', root, '--pack', pack], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`rws serve did not start: ${log}`)), 30_000);
      server!.stdout!.on('data', (d: Buffer) => {
        log += d.toString();
        const m = /rws serve: (http:\/\/127\.0\.0\.1:\d+)\//.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      server!.on('exit', (code) => reject(new Error(`rws serve exited with ${code}: ${log}`)));
    });
    api = createHttpClient({ baseUrl });

    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 720 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${video}`,
        '--use-fake-ui-for-media-stream',
      ],
    });
    await context.grantPermissions(['camera'], { origin: baseUrl });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => console.log(`e2e: page error: ${e.message}`));
    await page.goto(`${baseUrl}/`);
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    api?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('loads the pack and toggles Fog', async () => {
    // The page loads the default pack on start; 'idle' comes before that.
    await expect.poll(async () => (await api.getPack())?.id ?? null, { timeout: 60_000 }).not.toBeNull();
    await expect.poll(() => page.getByTestId('engine-status').textContent(), { timeout: 60_000 }).toMatch(/ready/);
    await expect.poll(() => page.getByTestId('topbar-mix').textContent()).not.toBe('');
    await openView('Folder run');
    const fog = page.getByTestId('condition-fog');
    await fog.check();
    await expect.poll(async () => (await api.getState()).mixKey, { timeout: 10_000 }).toMatch(/^fog=/);
    await expect.poll(() => page.getByTestId('active-mix').textContent()).toMatch(/fog/i);
  }, 90_000);

  it('runs a folder, lists results and the failure, and exports them', async () => {
    await openView('Folder run');
    await page.getByTestId('folder-input').fill(path.join(root, 'images'));
    await page.getByTestId('folder-output').fill(path.join(root, 'results'));
    await page.getByTestId('folder-start').click();
    await expect.poll(async () => (await api.getFolderResults().catch(() => undefined))?.progress.phase, { timeout: 60_000 }).toBe('done');
    const r = await api.getFolderResults({ limit: 1000 });
    expect(r.count).toBe(FOLDER_IMAGES);
    expect(r.failed.map((f) => [f.file, f.code])).toEqual([['not-an-image.png', 'not-image']]);
    expect(r.mixKey).toMatch(/^fog=/);
    await expect.poll(() => page.getByTestId('results-table').locator('tbody tr').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByRole('region', { name: 'Run progress' }).textContent(), { timeout: 10_000 }).toContain('done');
    await screenshot('folder');
    await page.getByTestId('tab-failed').click();
    await page.getByTestId('failures').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('failures').textContent()).toContain('not-an-image.png');
    await screenshot('folder-failed');
    await page.getByTestId('export-csv').click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'written to' }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const csv = readFileSync(path.join(root, 'results', 'results.csv'), 'utf8');
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(FOLDER_IMAGES + 2);
    await page.getByTestId('export-json').click();
    const json = JSON.parse(readFileSync(path.join(root, 'results', 'results.json'), 'utf8'));
    expect(json.results).toHaveLength(FOLDER_IMAGES);
    if (realData && usingDefaultPack) {
      const right = json.results.filter((x: { file: string; top: { index: number }[] }) => x.file.startsWith(`class-${x.top[0]!.index}/`)).length;
      console.log(`e2e: folder run top-1 accuracy on fogged images with Fog on: ${right}/${FOLDER_IMAGES}`);
    }
  }, 120_000);

  it('camera: predictions appear on the fake camera, and change when the mix changes', async () => {
    await openView('Camera');
    await page.getByTestId('camera-start').click();
    await expect.poll(() => page.getByTestId('topk-patched').locator('li').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(async () => Number(await page.getByTestId('camera-frames').textContent()), { timeout: 30_000 }).toBeGreaterThan(5);

    // Classify frames in the page, from the same <video>, knowing which picture each frame is.
    const sample = (ms: number) =>
      page.evaluate(
        async ({ ms, layout, want }) => {
          const video = document.querySelector('video')!;
          const h = layout.picture + layout.strip;
          const full = Object.assign(document.createElement('canvas'), { width: layout.width, height: h });
          const fctx = full.getContext('2d', { willReadFrequently: true })!;
          const small = Object.assign(document.createElement('canvas'), { width: 28, height: 28 });
          const sctx = small.getContext('2d', { willReadFrequently: true })!;
          const seen: Record<number, { patched: number; clean: number; mixKey: string; same: boolean; pixels: number[] }> = {};
          const end = performance.now() + ms;
          while (performance.now() < end && Object.keys(seen).length < want) {
            await new Promise<void>((r) => video.requestVideoFrameCallback(() => r()));
            fctx.drawImage(video, 0, 0, layout.width, h);
            const strip = fctx.getImageData(0, layout.picture + layout.strip / 2, layout.width, 1).data;
            let index = 0;
            for (let b = 0; b < layout.bits; b++) if (strip[Math.floor(((b + 0.5) * layout.width) / layout.bits) * 4]! > 128) index |= 1 << b;
            if (seen[index]) continue;
            sctx.drawImage(full, 0, 0, layout.width, layout.picture, 0, 0, 28, 28);
            const px = sctx.getImageData(0, 0, 28, 28).data;
            const data = Array.from({ length: 784 }, (_, i) => px[i * 4]! / 255);
            const res = await fetch('/api/classifyFrame', {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ width: 28, height: 28, channels: 1, data, compare: true, top: 10 }),
            }).then((x) => x.json());
            const same = JSON.stringify(res.patched) === JSON.stringify(res.clean);
            seen[index] = { patched: res.patched[0].index, clean: res.clean[0].index, mixKey: res.mixKey, same, pixels: data };
          }
          return seen;
        },
        { ms, layout: LAYOUT, want: CAMERA_IMAGES },
      );

    /** Mean absolute difference between what the page grabbed of a frame and the picture written into it. */
    const fidelity = (seen: Record<string, { pixels: number[] }>) => {
      const diffs = Object.entries(seen).map(([i, f]) => {
        const want = fogged[Number(i)]!.data;
        return f.pixels.reduce((s, v, p) => s + Math.abs(v - want[p]!), 0) / want.length;
      });
      return diffs.reduce((a, b) => a + b, 0) / diffs.length;
    };

    // Mix off: the patched model is the clean model, bit for bit.
    await page.getByTestId('condition-fog').uncheck();
    await expect.poll(async () => (await api.getState()).mixKey).toBe('off');
    const off = await sample(6_000);
    expect(Object.keys(off).length).toBeGreaterThan(10);
    expect(Object.values(off).every((f) => f.same && f.mixKey === 'off')).toBe(true);
    // The camera path delivers the pictures themselves (video range, scaling and cropping undone).
    const mad = fidelity(off);
    console.log(`e2e: camera frames vs the pictures written: mean |difference| ${mad.toFixed(4)}`);
    expect(mad).toBeLessThan(0.03);
    await screenshot('camera-off');

    // Fog on: the very next frames are made with it, and predictions change.
    await page.getByTestId('condition-fog').check();
    await expect.poll(async () => (await api.getState()).mixKey).toMatch(/^fog=/);
    const on = await sample(15_000);
    const frames = Object.entries(on);
    expect(frames.length).toBeGreaterThan(10);
    expect(frames.every(([, f]) => /^fog=/.test(f.mixKey))).toBe(true);
    expect(frames.some(([, f]) => !f.same)).toBe(true);
    await expect.poll(() => page.getByTestId('topbar-mix').textContent()).toMatch(/fog/i);
    await screenshot('camera');

    const acc = (pick: 'patched' | 'clean') => frames.filter(([i, f]) => f[pick] === labelled[Number(i)]?.label).length / frames.length;
    console.log(`e2e: camera, ${frames.length} fogged frames: top-1 clean ${(acc('clean') * 100).toFixed(1)}%, with Fog patched ${(acc('patched') * 100).toFixed(1)}%`);
    if (realData && usingDefaultPack) expect(acc('patched')).toBeGreaterThan(acc('clean'));
    await page.getByTestId('camera-stop').click();
  }, 120_000);

  it('shows the evaluation and the model & device views', async () => {
    await openView('Evaluation');
    await screenshot('evaluation-empty');
    await page.getByTestId('eval-run').click();
    await page.getByTestId('eval-charts').waitFor({ state: 'visible', timeout: 240_000 });
    await page.waitForTimeout(500);
    await screenshot('evaluation');
    await openView('Model & device');
    await page.getByTestId('device-now').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('device-now').textContent()).toContain('cpu');
    await screenshot('packs');
  }, 300_000);

  it('shows why a hostile pack is refused, naming the file, and keeps the pack it had', async () => {
    const h = makeHostileRoot(path.join(root, 'hostile'));
    const dir = writeHostilePack(h, path.join(root, 'hostile', 'fifo-model'), { files: { 'model.onnx': 'fifo' } });
    const before = (await api.getState()).pack;
    await openView('Model & device');
    await page.getByLabel('Pack folder path').fill(dir);
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    // In the app's words, naming the refused file; the engine's own message, as the CLI prints it, in the details.
    const note = page.getByTestId('pack-error');
    await note.waitFor({ timeout: 20_000 });
    expect(await note.locator('.text').textContent()).toBe(`${path.join(dir, 'model.onnx')} is not read: it is a FIFO (named pipe), not a regular file. Put the file itself in its place.`);
    expect(await note.locator('.detail').textContent()).toBe(`${path.join(dir, 'pack.json')}: field "model": ${path.join(dir, 'model.onnx')}: refused as the model: it is a FIFO (named pipe), not a regular file [not-regular-file]`);
    expect((await api.getState()).pack).toEqual(before);
  }, 60_000);
});
