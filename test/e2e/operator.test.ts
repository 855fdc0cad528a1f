// The app as a field operator uses it (issue 16), end to end: the built `rws serve` and Debian's
// Chromium (playwright-core), at 1440×900 with a square fake camera. One test per item of the
// issue: Auto per file in folder runs, results folders that hold a run, a lost and restarted
// server, the gallery and the image view, the camera frame, the end of long runs, errors in the
// app's words, class folders that round-trip, state that stays true, and controls that say what is
// on. Screenshots at 1440×900 and 1280×720 go to test/e2e/screenshots/ (committed; look at them).
// Timings are logged (the gallery's long tasks while results stream), never asserted.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpRwsApi } from '../../main/api/http-client.js';
import { classFolderNames } from '../../main/core/class-folders.js';
import { corrupt } from '../../main/core/corruptions/index.js';
import { writeFixturePack, FIXTURE_LABELS } from '../service/fixture-pack.js';
import { ensureBuilt } from './build.js';
import { CHROMIUM, DEFAULT_PACK, haveChromium, ROOT, sampleImages, SHOTS, writePng } from './setup.js';
import { markedY4m } from './y4m.js';

if (!haveChromium) console.log(`e2e (operator): skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

const IMAGES = 24;
/** A folder big enough that a run lasts a few seconds here (decoded and resized from 768×768 JPEGs). */
const BIG = 1500;
/** The run the server is lost in: long enough to be still going whatever this machine's speed. */
const HUGE = 8000;

let tmp: string;
let root: string;
let packDir: string;
let labels: string[] = FIXTURE_LABELS;
let port: number;
let server: ChildProcess | undefined;
let serverLog = '';
let baseUrl: string;
let api: HttpRwsApi;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** A free TCP port on loopback (so the server can be restarted on the same address). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Start `rws serve` on `port`; resolves once it listens. */
async function startServe(): Promise<void> {
  serverLog = '';
  server = spawn(process.execPath, [path.join(ROOT, 'bin', 'rws.js'), 'serve', '--port', String(port), '--root', root, '--pack', packDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rws serve did not start: ${serverLog}`)), 30_000);
    server!.stdout!.on('data', (d: Buffer) => {
      serverLog += d.toString();
      if (/rws serve: http:\/\/127\.0\.0\.1:\d+\//.test(serverLog)) {
        clearTimeout(timer);
        resolve();
      }
    });
    server!.once('exit', (code) => reject(new Error(`rws serve exited with ${code}: ${serverLog}`)));
  });
}

async function stopServe(): Promise<void> {
  const s = server;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  const gone = new Promise((r) => s.once('exit', r));
  s.kill('SIGKILL');
  await gone;
}

async function shot(name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}-1440x900.png`) });
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(SHOTS, `${name}-1280x720.png`) });
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.waitForTimeout(100);
}

async function openView(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name }).click();
}

/** The folder-run form's results folder and images folder. */
async function fillRun(input: string, output: string): Promise<void> {
  await openView('Folder run');
  await page.getByTestId('folder-input').fill(input);
  await page.getByTestId('folder-output').fill(output);
}

/** Notifications the page showed (recorded by the init script), e.g. one per finished run. */
const shownNotifications = () => page.evaluate(() => (window as unknown as { shownNotifications: { title: string; body: string }[] }).shownNotifications.slice());

/** Finished-run notifications that name `output`. */
async function finished(output: string): Promise<number> {
  return (await shownNotifications()).filter((n) => n.title === 'Folder run finished' && n.body.endsWith(`Results in ${output}`)).length;
}

/** Click `button` and wait until the run it starts into `output` has finished (one more notification for it). */
async function runToEnd(button: import('playwright-core').Locator, output: string, timeout = 240_000): Promise<void> {
  const before = await finished(output);
  await button.click();
  await expect.poll(() => finished(output), { timeout }).toBe(before + 1);
  await expect.poll(() => page.getByTestId('run-phase').textContent(), { timeout: 10_000 }).toBe('done');
}

/** A run started through the API (each test sets up what it needs itself), to its end. */
async function apiRun(args: Parameters<HttpRwsApi['startFolderRun']>[0]): Promise<void> {
  await api.startFolderRun(args);
  await expect
    .poll(async () => {
      const p = (await api.getFolderResults().catch(() => undefined))?.progress;
      return p?.output === args.output ? p.phase : 'other';
    }, { timeout: 120_000 })
    .toBe('done');
}

/** Set a range input (Playwright does not fill those). */
async function setRange(testid: string, value: number): Promise<void> {
  await page.getByTestId(testid).evaluate((el, v) => {
    const input = el as HTMLInputElement;
    input.value = String(v);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/** The text a user sees (details of errors closed). */
const visibleText = (selector: string) => page.locator(selector).evaluate((el) => (el as HTMLElement).innerText);

describe.skipIf(!haveChromium)('RWS Studio as a field operator uses it (rws serve + Chromium)', () => {
  beforeAll(async () => {
    ensureBuilt(ROOT);
    tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-operator-')));
    root = path.join(tmp, 'field');
    const usingDefault = existsSync(path.join(DEFAULT_PACK, 'pack.json'));
    packDir = usingDefault ? DEFAULT_PACK : writeFixturePack(path.join(tmp, 'pack'));
    if (usingDefault) labels = JSON.parse(readFileSync(path.join(DEFAULT_PACK, 'pack.json'), 'utf8')).labels;

    const { images } = await sampleImages(Math.max(IMAGES, 40));
    // images/: fogged pictures, flat, and one file that is not an image.
    mkdirSync(path.join(root, 'images'), { recursive: true });
    for (let i = 0; i < IMAGES; i++) {
      const fogged = corrupt({ width: 28, height: 28, channels: 1, data: images[i]!.data }, 'fog', 3, 100 + i).data;
      await writePng(path.join(root, 'images', `img-${String(i).padStart(3, '0')}.png`), fogged);
    }
    writeFileSync(path.join(root, 'images', 'broken.png'), 'this is not a picture');
    // nested/: images only in sub-folders (the folder picker must count them).
    for (const [sub, from] of [['a', 0], ['b', 6]] as const) {
      mkdirSync(path.join(root, 'nested', sub), { recursive: true });
      for (let i = 0; i < 6; i++) await writePng(path.join(root, 'nested', sub, `${i}.png`), images[from + i]!.data);
    }
    // lower/: a labelled folder with hand-made, lower-case class names.
    for (const [i, name] of [[0, 't-shirt_top'], [9, 'ankle-boot'], [1, 'trouser']] as const) {
      mkdirSync(path.join(root, 'lower', name), { recursive: true });
      const ofClass = images.filter((im) => im.label === i).slice(0, 3);
      for (const [k, im] of (ofClass.length ? ofClass : images.slice(0, 3)).entries()) await writePng(path.join(root, 'lower', name, `${k}.png`), im.data);
    }
    // big/: BIG 768×768 JPEGs (copies of a few), so a run lasts long enough to lose the server during it.
    mkdirSync(path.join(root, 'big'), { recursive: true });
    const seeds: string[] = [];
    for (let k = 0; k < 8; k++) {
      const f = path.join(tmp, `seed-${k}.jpg`);
      const up = await sharp(Buffer.from(Uint8Array.from(images[k]!.data, (v) => Math.round(v * 255))), { raw: { width: 28, height: 28, channels: 1 } }).resize(768, 768).jpeg({ quality: 95 }).toBuffer();
      writeFileSync(f, up);
      seeds.push(f);
    }
    for (let i = 0; i < BIG; i++) copyFileSync(seeds[i % seeds.length]!, path.join(root, 'big', `${String(i).padStart(5, '0')}.jpg`));
    // huge/: HUGE of them, for the run the server is lost in the middle of.
    mkdirSync(path.join(root, 'huge'), { recursive: true });
    for (let i = 0; i < HUGE; i++) copyFileSync(seeds[i % seeds.length]!, path.join(root, 'huge', `${String(i).padStart(5, '0')}.jpg`));
    // one.png: a single picture to drop.
    await writePng(path.join(tmp, 'one.png'), images[3]!.data);

    // The fake camera: a square feed (the frame must fit the panel whole).
    const video = path.join(tmp, 'square.y4m');
    writeFileSync(video, markedY4m(images.slice(0, 10).map((im) => ({ size: 28, data: im.data })), 10, { width: 240, picture: 240, strip: 0, bits: 1 }));

    port = await freePort();
    await startServe();
    baseUrl = `http://127.0.0.1:${port}`;
    api = createHttpClient({ baseUrl });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`, '--use-fake-ui-for-media-stream'],
    });
    context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['camera', 'notifications'], { origin: baseUrl });
    // The page as a user has it while looking at another window: notifications are due. They are recorded, not shown.
    await context.addInitScript(() => {
      const shown: { title: string; body: string }[] = [];
      (window as unknown as { shownNotifications: typeof shown }).shownNotifications = shown;
      class Recorded {
        static permission = 'granted';
        static requestPermission = async () => 'granted';
        constructor(title: string, opts: { body?: string } = {}) {
          shown.push({ title, body: opts.body ?? '' });
        }
      }
      Object.defineProperty(window, 'Notification', { value: Recorded, configurable: true });
      document.hasFocus = () => false;
    });
    page = await context.newPage();
    page.on('pageerror', (e) => console.log(`e2e (operator): page error: ${e.message}`));
    await page.goto(`${baseUrl}/`);
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    api?.close();
    await stopServe();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('loads the pack', async () => {
    await expect.poll(async () => (await api.getPack())?.id ?? null, { timeout: 60_000 }).not.toBeNull();
    await expect.poll(() => page.getByTestId('engine-status').textContent(), { timeout: 60_000 }).toMatch(/ready/);
  }, 120_000);

  it('10. controls say what is on: strength 0–100%, one mode at a time, the device in use, the README\'s CUDA command', async () => {
    await openView('Folder run');
    const slider = page.getByRole('slider', { name: 'Fog strength' });
    // 100% (the pack's own strength) is the right end of the slider, not its middle.
    expect(await slider.getAttribute('max')).toBe('1');
    expect(Number(await slider.inputValue())).toBe(1);
    // Auto on while the engine's mix is off: only Auto shows as on.
    const modes = page.getByRole('complementary', { name: 'Conditions' }).locator('[aria-pressed="true"], [aria-checked="true"]');
    await page.getByTestId('mix-auto').click();
    await expect.poll(() => modes.allTextContents()).toEqual([expect.stringContaining('Auto')]);
    await page.getByRole('complementary', { name: 'Conditions' }).getByText('Off', { exact: true }).click();
    await expect.poll(() => modes.allTextContents()).toEqual([expect.stringContaining('Off')]);
    await shot('conditions-mode');

    await openView('Model & device');
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const command = /`(npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12)`/.exec(readme)![1]!;
    await expect.poll(() => page.getByRole('radiogroup', { name: 'Device' }).textContent()).toContain(command);
    const webgpu = page.getByRole('radio', { name: /WebGPU/ });
    if (await webgpu.isEnabled()) {
      // Listed, picked, failed to start: the CPU is what is on, and WebGPU says it failed.
      await webgpu.check();
      await expect.poll(async () => (await api.getState()).device.device, { timeout: 30_000 }).toBe('cpu');
      await expect.poll(() => page.getByRole('radio', { name: 'CPU', exact: true }).isChecked(), { timeout: 10_000 }).toBe(true);
      expect(await webgpu.isChecked()).toBe(false);
      expect(await webgpu.isDisabled()).toBe(true);
      // 7. The fallback in words; the engine's reason one click away, not in a clipped badge.
      const note = page.getByTestId('device-fallback');
      expect(await note.evaluate((el) => (el as HTMLElement).innerText)).toMatch(/WebGPU could not start on this machine, so the engine runs on the CPU/);
      expect(await note.locator('details').getAttribute('open')).toBeNull();
      await shot('device-fallback');
      // Picking the CPU (already shown as in use) makes it the device asked for: the note goes.
      await page.getByRole('radio', { name: 'CPU', exact: true }).click();
      await expect.poll(async () => (await api.getState()).device.requested, { timeout: 30_000 }).toBe('cpu');
      await expect.poll(() => page.getByTestId('device-fallback').count(), { timeout: 10_000 }).toBe(0);
    } else console.log('e2e (operator): WebGPU is not listed here; the fallback part was not exercised');
  }, 120_000);

  it('1. a folder run with Auto chooses each file\'s mix, shows it per file and filters by it', async () => {
    await fillRun(path.join(root, 'images'), path.join(root, 'results'));
    await page.getByTestId('run-mode-auto').click();
    await expect.poll(() => page.getByTestId('topbar-mix').textContent()).toMatch(/^Auto/);
    await page.getByText('Copy into class folders').check();
    await runToEnd(page.getByTestId('folder-start'), path.join(root, 'results'));
    const r = await api.getFolderResults({ limit: 1000 });
    expect(r.mixKey).toBe('auto');
    expect(r.results.every((x) => typeof x.mix === 'string')).toBe(true);
    // The rows reach the table on the view's next merge (every 500 ms), after the run is done.
    await expect.poll(() => page.getByTestId('row-mix').count()).toBe(Math.min(IMAGES, 100));
    const cells = await page.getByTestId('row-mix').allTextContents();
    expect(cells.length).toBe(Math.min(IMAGES, 100));
    expect(cells.every((c) => c.length > 0)).toBe(true);
    // The mix filter lists each mix with its count; choosing one keeps only its files.
    const options = await page.getByTestId('mix-filter').locator('option').allTextContents();
    const byMix = new Map<string, number>();
    for (const x of r.results) byMix.set(x.mix!, (byMix.get(x.mix!) ?? 0) + 1);
    expect(options.slice(1).map((o) => o.replace(/ \(clean model\)/, ''))).toEqual([...byMix].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([m, n]) => `${m} (${n})`));
    const [first] = [...byMix].sort((a, b) => b[1] - a[1])[0]!;
    await page.getByTestId('mix-filter').selectOption(first);
    expect(new Set(await page.getByTestId('row-mix').allTextContents())).toEqual(new Set([first]));
    await shot('folder-auto');
    await page.getByTestId('mix-filter').selectOption('');
    await page.getByText('Copy into class folders').uncheck();
  }, 150_000);

  it('4. results as a gallery, a picture at size with the clean and the patched model, ←/→, filters, a sample compared, one picture dropped', async () => {
    await page.getByTestId('layout-gallery').click();
    const tiles = page.getByTestId('tile');
    await expect.poll(() => tiles.count()).toBe(IMAGES);
    // Readable thumbnails: drawn at least 120 px wide, from a picture of at least 96 px.
    await expect.poll(() => tiles.first().locator('img').evaluate((im) => (im as HTMLImageElement).naturalWidth), { timeout: 10_000 }).toBeGreaterThanOrEqual(96);
    expect((await tiles.first().locator('img').boundingBox())!.width).toBeGreaterThanOrEqual(120);
    await shot('gallery');

    await tiles.nth(0).click();
    const view = page.getByTestId('image-view');
    await view.waitFor();
    await expect.poll(() => view.getByTestId('topk-patched').locator('li').count(), { timeout: 20_000 }).toBe(5);
    expect(await view.getByTestId('topk-clean').locator('li').count()).toBe(5);
    expect((await view.getByTestId('viewer-image').boundingBox())!.height).toBeGreaterThanOrEqual(300);
    const firstFile = await view.locator('#viewer-title').textContent();
    const fileMix = (await api.getFolderResults({ limit: 1000 })).results.find((x) => x.file === firstFile)!.mix!;
    expect(await view.getByTestId('viewer-mix').textContent()).toContain(fileMix);
    expect(await view.getByTestId('viewer-position').textContent()).toBe(`1 of ${IMAGES}`);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => view.getByTestId('viewer-position').textContent()).toBe(`2 of ${IMAGES}`);
    expect(await view.locator('#viewer-title').textContent()).not.toBe(firstFile);
    // A condition simulated on the picture: both models see it.
    const plain = await view.getByTestId('viewer-input').getAttribute('src');
    await view.getByTestId('viewer-simulate').selectOption('fog');
    await expect.poll(() => view.getByTestId('viewer-simulated').textContent(), { timeout: 20_000 }).toMatch(/Fog/);
    expect(await view.getByTestId('viewer-input').getAttribute('src')).not.toBe(plain);
    await shot('image-view');
    await page.keyboard.press('Escape');
    await expect.poll(() => view.count()).toBe(0);

    // Filters: predicted class and a confidence range.
    const r = (await api.getFolderResults({ limit: 1000 })).results;
    const top = new Map<number, number>();
    for (const x of r) top.set(x.top[0]!.index, (top.get(x.top[0]!.index) ?? 0) + 1);
    const [cls, n] = [...top].sort((a, b) => b[1] - a[1])[0]!;
    await page.getByTestId('class-filter').selectOption(String(cls));
    await expect.poll(() => tiles.count()).toBe(n);
    await page.getByTestId('class-filter').selectOption('');
    await setRange('conf-max', 0.6);
    await expect.poll(() => tiles.count()).toBe(r.filter((x) => x.top[0]!.score <= 0.6).length);
    await setRange('conf-max', 1);

    // The patch against the clean model on a sample of the run.
    await page.getByTestId('compare-sample').click();
    await expect.poll(() => page.getByTestId('compare-summary').textContent(), { timeout: 60_000 }).toMatch(/On \d+ images spread over the run, the clean model and the patch agree on \d+; the patch changes \d+/);

    // One picture dropped: it opens in the image view.
    const bytes = [...readFileSync(path.join(tmp, 'one.png'))];
    await page.getByTestId('folder-drop').evaluate((el, bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'one.png', { type: 'image/png' }));
      el.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes);
    await expect.poll(() => page.getByTestId('image-view').locator('#viewer-title').textContent(), { timeout: 20_000 }).toBe('one.png');
    await expect.poll(() => page.getByTestId('image-view').getByTestId('topk-clean').locator('li').count(), { timeout: 20_000 }).toBe(5);
    await page.keyboard.press('Escape');
    await page.getByTestId('layout-table').click();
  }, 150_000);

  it('2. a results folder that holds a run: resume, replace (old results kept until done), or a new folder, in the app\'s words', async () => {
    const out = path.join(root, 'earlier');
    await apiRun({ inputs: [path.join(root, 'images')], output: out, auto: true });
    const before = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(before.mix).toBe('auto');
    await fillRun(path.join(root, 'images'), out);
    await page.getByRole('complementary', { name: 'Conditions' }).getByText('Off', { exact: true }).click();
    await page.getByTestId('folder-start').click();
    const offer = page.getByTestId('existing-run');
    await offer.waitFor({ timeout: 20_000 });
    const text = await offer.innerText();
    expect(text).toContain('already holds the results of an earlier run');
    expect(text).not.toMatch(/--resume|journal/);
    await shot('existing-run');
    await runToEnd(offer.getByTestId('existing-replace'), out);
    const after = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(after.mix).not.toBe('auto');
    expect(existsSync(path.join(out, '.rws-replacing'))).toBe(false);
    // A new folder beside it.
    await page.getByTestId('folder-start').click();
    await offer.waitFor();
    const suggestion = (await offer.getByTestId('existing-new').locator('.mono').textContent())!;
    expect(suggestion).toBe(`${out}-2`);
    await runToEnd(offer.getByTestId('existing-new'), `${out}-2`);
    expect(existsSync(path.join(`${out}-2`, 'results.json'))).toBe(true);
    expect(await page.getByTestId('folder-output').inputValue()).toBe(`${out}-2`);
    // And resume: the run there goes on (here, it had finished: nothing is classified again).
    await page.getByTestId('folder-start').click();
    await offer.waitFor();
    await runToEnd(offer.getByTestId('existing-resume'), `${out}-2`);
    expect((await api.getFolderResults()).progress.resumed).toBeGreaterThanOrEqual(IMAGES);
  }, 200_000);

  it('9. state that stays true: no stale "done", N of N files, the form and Auto after a reload, images in sub-folders counted', async () => {
    // A run that has ended reads as ended: every file accounted for (one of them could not be read).
    await fillRun(path.join(root, 'images'), path.join(root, 'counted'));
    await page.getByTestId('folder-start').click();
    await expect.poll(() => page.getByRole('region', { name: 'Run progress' }).textContent(), { timeout: 60_000 }).toMatch(/\bdone\b/);
    await expect.poll(() => page.getByTestId('folder-count').textContent()).toMatch(new RegExp(`^${IMAGES + 1} of ${IMAGES + 1}\\b`));
    expect(await page.getByTestId('run-summary').textContent()).toBe(`${IMAGES} classified, 1 could not be read`);
    // Starting another run: the last one's "done" is gone at once, before the engine has walked the folder.
    await fillRun(path.join(root, 'big'), path.join(root, 'big-results'));
    const progress = page.getByRole('region', { name: 'Run progress' });
    // Every state the progress shows from the click on, frame by frame (phase | count).
    const seen = await page.evaluate(async () => {
      const w = window as unknown as { runStates: string[]; stopWatch: boolean };
      w.runStates = [];
      w.stopWatch = false;
      const read = () => `${document.querySelector('[data-testid="run-phase"]')?.textContent ?? ''} | ${document.querySelector('[data-testid="folder-count"]')?.textContent ?? ''}`;
      const watch = () => {
        const s = read();
        if (w.runStates.at(-1) !== s) w.runStates.push(s);
        if (!w.stopWatch) requestAnimationFrame(watch);
      };
      (document.querySelector('[data-testid="folder-start"]') as HTMLButtonElement).click();
      await new Promise((r) => requestAnimationFrame(() => r(null)));
      watch();
      return document.querySelector('[aria-label="Run progress"]')?.textContent ?? '';
    });
    expect(seen).not.toMatch(/\bdone\b/);
    const all = `${BIG.toLocaleString('en-US')} of ${BIG.toLocaleString('en-US')} files`;
    await expect.poll(() => page.getByTestId('folder-count').textContent(), { timeout: 240_000 }).toBe(all);
    await expect.poll(() => progress.textContent(), { timeout: 10_000 }).toMatch(/\bdone\b/);
    // "done" was never shown for anything but this run's end (not the last run's, while this one started).
    const states = await page.evaluate(() => {
      const w = window as unknown as { runStates: string[]; stopWatch: boolean };
      w.stopWatch = true;
      return w.runStates;
    });
    expect(states.filter((x) => x.startsWith('done |'))).toEqual([`done | ${all}`]);

    // The input folder and Auto survive a reload.
    await page.getByTestId('folder-input').fill(path.join(root, 'nested'));
    await page.getByTestId('mix-auto').click();
    await page.reload();
    await openView('Folder run');
    await expect.poll(() => page.getByTestId('folder-input').inputValue()).toBe(path.join(root, 'nested'));
    await expect.poll(() => page.getByTestId('topbar-mix').textContent()).toMatch(/^Auto/);
    await page.getByRole('complementary', { name: 'Conditions' }).getByText('Off', { exact: true }).click();

    // The folder picker counts the images in sub-folders.
    await page.getByRole('button', { name: 'Choose…' }).first().click();
    const picker = page.getByRole('dialog');
    await picker.getByRole('button', { name: /field/ }).click();
    await picker.getByRole('button', { name: /nested/ }).click();
    await expect.poll(() => picker.getByText(/image.* in this folder/).textContent()).toMatch(/^0 images in this folder, 12 in its sub-folders/);
    await shot('picker');
    await picker.getByRole('button', { name: 'Cancel', exact: true }).last().click();
  }, 400_000);

  it('8. class folders round-trip: what "Copy into class folders" wrote, and lower-case folder names, are read by Evaluation', async () => {
    await apiRun({ inputs: [path.join(root, 'images')], output: path.join(root, 'classes'), copyToClassFolders: true });
    const byClass = path.join(root, 'classes', 'by-class');
    const written = readdirSync(byClass);
    expect(written.length).toBeGreaterThan(0);
    expect(written.every((d) => classFolderNames(labels).includes(d))).toBe(true);
    await openView('Evaluation');
    const conditions = page.getByRole('group', { name: 'Conditions' }).getByRole('checkbox');
    for (let i = 1; i < (await conditions.count()); i++) await conditions.nth(i).uncheck();
    await page.getByLabel('Images per condition and severity').fill('20');
    for (const data of [byClass, path.join(root, 'lower')]) {
      await page.getByRole('textbox', { name: 'Evaluation data folder' }).fill(data);
      await page.getByTestId('eval-run').click();
      await expect.poll(async () => (await page.getByRole('region', { name: 'Accuracy vs severity' }).textContent()) ?? '', { timeout: 90_000 }).toContain(data);
      expect(await page.locator('[data-testid="eval-charts"] [role="img"]').count()).toBe(1);
    }
    await page.getByRole('textbox', { name: 'Evaluation data folder' }).fill('');
  }, 200_000);

  it('6. long runs end with a notification, progress in the title, the results path and downloads; evaluations with an ETA, a rate in images/s, Cancel and export', async () => {
    const shown = shownNotifications;
    await fillRun(path.join(root, 'big'), path.join(root, 'big-results-2'));
    const titles = new Set<string>();
    const watch = setInterval(() => void page.title().then((t) => titles.add(t), () => {}), 100);
    await runToEnd(page.getByTestId('folder-start'), path.join(root, 'big-results-2'));
    clearInterval(watch);
    expect([...titles].some((t) => /^\d+% · Folder run · RWS Studio$/.test(t))).toBe(true);
    expect(await page.title()).toBe('Done · Folder run · RWS Studio');
    const out = path.join(root, 'big-results-2');
    await expect.poll(shown).toContainEqual({ title: 'Folder run finished', body: `${BIG.toLocaleString('en-US')} images classified. Results in ${out}` });
    expect(await page.getByTestId('run-done').textContent()).toContain(out);
    const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-csv').click()]);
    expect(csv.suggestedFilename()).toBe('results.csv');
    expect(readFileSync((await csv.path())!, 'utf8').split('\r\n')[0]).toMatch(/^file,status,top1_index/);

    await openView('Evaluation');
    const evalNotes = async () => (await shown()).filter((n) => n.title.startsWith('Evaluation')).length;
    const notesBefore = await evalNotes();
    await page.getByLabel('Images per condition and severity').fill('3000');
    const conditions = page.getByRole('group', { name: 'Conditions' }).getByRole('checkbox');
    for (let i = 0; i < (await conditions.count()); i++) await conditions.nth(i).check();
    await page.getByTestId('eval-run').click();
    await expect.poll(() => page.getByTestId('eval-progress').textContent(), { timeout: 60_000 }).toMatch(/[\d,]+ of [\d,]+ images · [\d.,]+ images\/s · ETA \d/);
    await shot('evaluation-running');
    await page.getByTestId('eval-cancel').click();
    await expect.poll(() => page.getByTestId('eval-run').isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(await page.locator('.evaluation [role="alert"]').count()).toBe(0);
    // A cancel the user asked for is not announced.
    expect(await evalNotes()).toBe(notesBefore);

    // A short one to the end: charts on one y range, a notification, and the tables exported.
    for (let i = 2; i < (await conditions.count()); i++) await conditions.nth(i).uncheck();
    await page.getByLabel('Images per condition and severity').fill('40');
    await page.getByTestId('eval-run').click();
    await expect.poll(() => page.locator('[data-testid="eval-charts"] [role="img"]').count(), { timeout: 90_000 }).toBe(2);
    const ranges = await page.locator('[data-testid="eval-charts"] [role="img"]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-ymin')}-${e.getAttribute('data-ymax')}`));
    expect(ranges.length).toBe(2);
    expect(new Set(ranges).size).toBe(1);
    await expect.poll(evalNotes).toBe(notesBefore + 1);
    expect((await shown()).at(-1)!.title).toBe('Evaluation finished');
    const [evalCsv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('eval-export-csv').click()]);
    expect(readFileSync((await evalCsv.path())!, 'utf8').split('\r\n')[0]).toBe('condition,name,mix,severity,clean_accuracy,patched_accuracy,gain');
    await page.waitForTimeout(300);
    await shot('evaluation');
  }, 500_000);

  it('7. errors in the app\'s words, said once, the detail one click away', async () => {
    await fillRun(path.join(root, 'images'), path.join(root, 'results-topk'));
    await page.getByLabel('Predictions kept per image').fill('0');
    await page.getByTestId('folder-start').click();
    const err = page.locator('.folder [role="alert"]').first();
    await err.waitFor({ timeout: 10_000 });
    expect(await err.innerText()).toMatch(/^Top-k must be at least 1\. Correct it and try again\.\s*Details$/);
    await err.locator('summary').click();
    expect(await err.innerText()).toContain('field "top"');
    await shot('error-topk');
    await page.getByLabel('Predictions kept per image').fill('3');

    await openView('Model & device');
    await page.getByRole('textbox', { name: 'Pack folder path' }).fill(path.join(root, 'nested'));
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await page.locator('.packs [role="alert"]').first().waitFor({ timeout: 10_000 });
    // Said once (not also as a notice), without errno codes.
    expect(await visibleText('body')).not.toContain('ENOENT');
    expect(await page.getByText('There is no model pack in').count()).toBe(1);
    expect(await page.getByTestId('pack-error').innerText()).toContain(`There is no model pack in ${path.join(root, 'nested')}: it has no pack.json`);
    await shot('error-pack');
  }, 60_000);

  it('5. the camera: the whole frame fits, Simulate shows on the big picture, predictions go stale on Stop, and camera errors say what to do', async () => {
    await openView('Camera');
    await page.getByTestId('camera-start').click();
    await expect.poll(() => page.getByTestId('topk-patched').locator('li').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const fits = () =>
      page.evaluate(() => {
        const v = document.querySelector('video')!.getBoundingClientRect();
        const f = document.querySelector('video')!.parentElement!.getBoundingClientRect();
        const m = document.querySelector('main')!.getBoundingClientRect();
        return { video: [v.top, v.bottom, v.height], feed: [f.top, f.bottom], main: m.bottom, inside: v.top >= f.top - 1 && v.bottom <= f.bottom + 1 && f.bottom <= m.bottom + 1 };
      });
    for (const size of [{ width: 1440, height: 900 }, { width: 1280, height: 720 }]) {
      await page.setViewportSize(size);
      await page.waitForTimeout(200);
      const f = await fits();
      expect(f.inside, JSON.stringify(f)).toBe(true);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.getByTestId('simulate-select').selectOption('fog');
    await expect.poll(() => page.evaluate(() => (window as unknown as { rwsCamera: { simulatedPreviews(): number } }).rwsCamera.simulatedPreviews()), { timeout: 30_000 }).toBeGreaterThan(2);
    const sim = page.getByTestId('sim-preview');
    expect(await sim.isVisible()).toBe(true);
    const [sb, fb] = [(await sim.boundingBox())!, (await page.getByTestId('camera-feed').boundingBox())!];
    expect(sb.width * sb.height).toBeGreaterThan(0.9 * fb.width * fb.height);
    await shot('camera-simulated');
    await page.getByTestId('camera-stop').click();
    await expect.poll(() => page.getByTestId('predictions').getAttribute('data-stale')).toBe('true');
    expect(await page.getByTestId('stale-note').textContent()).toMatch(/Camera stopped/);
    await shot('camera-stopped');
    await page.getByTestId('simulate-select').selectOption('');

    // No camera, or access refused: what to do about it.
    for (const [name, fix] of [['NotFoundError', /Connect a camera/], ['NotAllowedError', /Allow the camera for this page/]] as const) {
      const p = await context.newPage();
      await p.addInitScript((name) => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('no', name));
      }, name);
      await p.goto(`${baseUrl}/`);
      await expect.poll(() => p.getByTestId('camera-start').isEnabled(), { timeout: 60_000 }).toBe(true);
      await p.getByTestId('camera-start').click();
      await expect.poll(() => p.getByTestId('camera-error').textContent()).toMatch(fix);
      if (name === 'NotFoundError') {
        await p.screenshot({ path: path.join(SHOTS, 'camera-no-camera-1440x900.png') });
        await p.setViewportSize({ width: 1280, height: 720 });
        await p.screenshot({ path: path.join(SHOTS, 'camera-no-camera-1280x720.png') });
      }
      await p.close();
    }
  }, 180_000);

  it('3. a lost server is noticed, and after its restart the UI sets it up again (pack, mix, device, run) and says so; the gallery stays responsive while results stream', async () => {
    await fillRun(path.join(root, 'huge'), path.join(root, 'huge-results'));
    await page.getByTestId('layout-gallery').click({ timeout: 5_000 }).catch(() => console.log('e2e (operator): no gallery here; results streamed into the table'));
    await page.getByRole('switch', { name: 'Fog', exact: true }).check();
    await expect.poll(async () => (await api.getState()).mixKey).toMatch(/^fog=/);
    const device = (await api.getState()).device.requested;
    // Long tasks on the page's main thread while results stream into the gallery.
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.longTasks.push(e.duration))).observe({ type: 'longtask' });
    });
    const hugeOut = path.join(root, 'huge-results');
    await page.getByTestId('folder-start').click();
    await expect
      .poll(async () => {
        const p = (await api.getFolderResults().catch(() => undefined))?.progress;
        return p?.output === hugeOut && p.phase === 'running' ? p.done : 0;
      }, { timeout: 60_000 })
      .toBeGreaterThan(500);
    const long = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
    const at = (await api.getFolderResults()).progress;
    console.log(`e2e (operator): gallery while ${at.done} of ${HUGE} results streamed: ${long.length} long tasks, worst ${long.length ? Math.max(...long).toFixed(0) : 0} ms (npm run bench gallery measures 50,000)`);
    expect(at.phase).toBe('running');

    await stopServe();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 20_000 }).toMatch(/connection lost/);
    expect(await page.getByTestId('engine-status').textContent()).not.toMatch(/ready/);
    expect(await page.getByTestId('run-phase').textContent()).toBe('connection lost');
    expect(await page.getByTestId('run-eta').textContent()).toBe('—');
    expect(await page.title()).toMatch(/^Connection lost/);
    await shot('connection-lost');

    await startServe();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 30_000 }).toMatch(/connected/);
    await expect.poll(() => page.getByTestId('notices').textContent(), { timeout: 30_000 }).toMatch(/The server restarted and was set up again: .*pack .* loaded again.*mix Fog 100%.*the folder run was interrupted/);
    const state = await api.getState();
    expect(state.pack?.id).toBeTruthy();
    expect(state.mixKey).toMatch(/^fog=/);
    expect(state.device.requested).toBe(device);
    await expect.poll(() => page.getByTestId('run-phase').textContent()).toBe('stopped');
    await shot('server-restarted');
    // The rest of HUGE images: minutes on a loaded machine.
    await runToEnd(page.getByTestId('folder-resume'), path.join(root, 'huge-results'), 480_000);
    const done = await api.getFolderResults({ limit: 1 });
    expect(done.count).toBe(HUGE);
    expect(done.progress.resumed).toBeGreaterThan(0);
  }, 700_000);
});
