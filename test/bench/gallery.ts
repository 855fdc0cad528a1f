// The app's gallery while a large folder run streams its results: `rws serve` in this process with
// the default pack on CPU, the built UI in Debian's Chromium, a run of RWS_BENCH_GALLERY_IMAGES
// (default 50,000) small pictures started from the Folder run view with the results shown as a
// gallery. The page's main thread is watched with the Long Tasks API (tasks over 50 ms) and with
// the gaps between animation frames, while results stream and after the run ends. The gallery shows
// the results in file order for the first half of the run, then (as an operator looking for the
// doubtful ones would) sorted by confidence, lowest first, for a quarter, then one class only: the
// views whose order or filter every arriving batch must keep.
// Pictures of the gallery go to bench-results/gallery-streaming.png and gallery-done.png.
// RWS_BENCH_GALLERY_PROFILE=<file.cpuprofile> also records the page's CPU profile (V8's sampler, over
// CDP), writes it there (open it in Chromium's DevTools) and adds rows naming the functions that the
// samples inside the long tasks were in.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import type { BenchRow, BenchSection } from './section.js';

const IMAGES = Number(process.env.RWS_BENCH_GALLERY_IMAGES ?? 50_000);
const PROFILE = process.env.RWS_BENCH_GALLERY_PROFILE;
/** Where the gallery's pictures go: one while results stream (sorted by confidence), one at the end. */
const SHOTS = path.resolve('bench-results');

/** The views of the gallery while results stream, in the order the bench shows them. */
const VIEWS = ['file order', 'by confidence', 'one class'] as const;
/** The page's time between the clicks that change the view and 200 ms after: the clicks' own work, not the stream's. */
const CHANGING = 'changing the view';
type Phase = (typeof VIEWS)[number] | typeof CHANGING | 'after';

/** What the page measured: its long tasks, the longest gap between frames per phase, the phases' starts. */
interface PageWatch {
  /** Every long task as [start, duration] (ms, the page's clock). */
  spans: [number, number][];
  gaps: Partial<Record<Phase, number>>;
  /** Each phase and when it began (the page's clock), in order. */
  marks: [Phase, number][];
  /** When the page ran its marker (busyMarker), to put the profile's clock on the page's. */
  marker: number;
}

/**
 * Installed in the page (as text: this file is compiled without the DOM's types): long tasks and
 * the longest gap between animation frames under the current phase; `mark` starts a phase.
 */
const WATCH = `(() => {
  const w = window;
  w.watch = { phase: '', spans: [], gaps: {}, marks: [], marker: 0 };
  w.mark = (phase) => {
    w.watch.phase = phase;
    w.watch.marks.push([phase, performance.now()]);
  };
  w.mark(${JSON.stringify(VIEWS[0])});
  new PerformanceObserver((list) => list.getEntries().forEach((e) => w.watch.spans.push([e.startTime, e.duration]))).observe({ type: 'longtask' });
  // A function the profile can find by name, run once: its first sample is this moment.
  w.busyMarker = function busyMarker() {
    w.watch.marker = performance.now();
    while (performance.now() - w.watch.marker < 30) {}
  };
  let last = performance.now();
  const frame = (t) => {
    w.watch.gaps[w.watch.phase] = Math.max(w.watch.gaps[w.watch.phase] ?? 0, t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})()`;

/** The long tasks (ms) that began in each phase. */
function byPhase(watch: PageWatch): Map<Phase, number[]> {
  const out = new Map<Phase, number[]>(watch.marks.map(([p]) => [p, []]));
  for (const [start, ms] of watch.spans) {
    const at = watch.marks.filter(([, t]) => t <= start).at(-1);
    if (at) out.get(at[0])!.push(ms);
  }
  return out;
}

export async function benchGallery(): Promise<BenchSection> {
  if (!haveChromium) return { title: 'Gallery while results stream (skipped: no Chromium)', rows: [] };
  ensureBuilt(installRoot());
  mkdirSync(SHOTS, { recursive: true });
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
    const cdp = PROFILE ? await page.context().newCDPSession(page) : undefined;
    if (cdp) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
      await cdp.send('Profiler.start');
      await page.evaluate('window.busyMarker()');
    }
    const t0 = performance.now();
    await page.getByTestId('folder-start').click();
    // Streaming, in each view in turn: until the engine says the run is done.
    let view = 0;
    for (;;) {
      const p = (await api.getFolderResults({ limit: 1 }).catch(() => undefined))?.progress;
      if (p && p.output === path.join(tmp, 'results') && p.phase === 'done') break;
      if (p?.phase === 'failed') throw new Error(`the run failed: ${p.message}`);
      const processed = p && p.output === path.join(tmp, 'results') ? p.done + p.failed : 0;
      if (view === 0 && processed >= IMAGES / 2) {
        view = 1;
        await page.evaluate(`window.mark(${JSON.stringify(CHANGING)})`);
        // The order is chosen on the table's header (lowest confidence first), then back to the gallery.
        await page.getByTestId('layout-table').click();
        const confidence = page.getByRole('button', { name: 'Confidence' });
        await confidence.click();
        await confidence.click();
        await page.getByTestId('layout-gallery').click();
        await page.waitForTimeout(200);
        await page.evaluate(`window.mark(${JSON.stringify(VIEWS[1])})`);
        await page.screenshot({ path: path.join(SHOTS, 'gallery-streaming.png') });
      } else if (view === 1 && processed >= (IMAGES * 3) / 4) {
        view = 2;
        await page.evaluate(`window.mark(${JSON.stringify(CHANGING)})`);
        // The class most pictures have so far (its count is in the option's text).
        const options = await page.getByTestId('class-filter').locator('option').allTextContents();
        const count = (o: string) => Number(/\((\d+)\)$/.exec(o)?.[1] ?? 0);
        const most = options.reduce((best, o, i) => (count(o) > count(options[best]!) ? i : best), 1);
        await page.getByTestId('class-filter').selectOption({ index: most });
        await page.waitForTimeout(200);
        await page.evaluate(`window.mark(${JSON.stringify(VIEWS[2])})`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (performance.now() - t0) / 1000;
    await page.evaluate('window.mark("after")');
    await page.getByTestId('run-phase').filter({ hasText: 'done' }).waitFor({ timeout: 60_000 });
    await page.waitForTimeout(3000);
    const watch = (await page.evaluate('window.watch')) as PageWatch;
    const profiled: BenchRow[] = [];
    if (cdp && PROFILE) {
      const { profile } = (await cdp.send('Profiler.stop')) as { profile: CpuProfile };
      writeFileSync(PROFILE, JSON.stringify(profile));
      profiled.push(...inLongTasks(profile, watch));
    }
    const worst = (xs: number[]) => (xs.length ? Math.max(...xs) : 0);
    const over = (xs: number[]) => (xs.length ? `${xs.length} tasks over 50 ms` : 'no task over 50 ms (0 = none seen)');
    const tasks = byPhase(watch);
    const of = (p: Phase) => tasks.get(p) ?? [];
    const streaming = VIEWS.flatMap(of);
    const gap = (p: Phase) => `longest gap between frames ${(watch.gaps[p] ?? 0).toFixed(0)} ms`;
    const shown = await page.getByTestId('tile').count();
    await page.screenshot({ path: path.join(SHOTS, 'gallery-done.png') });
    return {
      title: `Gallery while a ${IMAGES.toLocaleString('en-US')}-image folder run streams its results (Chromium, Long Tasks API)`,
      rows: [
        { name: 'worst main-thread task while results stream', value: worst(streaming), unit: 'ms', target: '≤ 50 ms', note: `${over(streaming)}; the three views below together` },
        ...VIEWS.map((v) => ({ name: `worst task, gallery in ${v}`, value: worst(of(v)), unit: 'ms', note: `${over(of(v))}; ${gap(v)}` })),
        { name: 'worst task of the clicks that change the view (sort, filter)', value: worst(of(CHANGING)), unit: 'ms', note: `${over(of(CHANGING))}; a response to a click, not the stream` },
        { name: 'worst main-thread task after the run (final state, failures)', value: worst(of('after')), unit: 'ms', note: over(of('after')) },
        { name: 'folder run through the app', value: IMAGES / seconds, unit: 'images/s', note: `${seconds.toFixed(1)} s; ${shown} tiles on the gallery page` },
        ...profiled,
      ],
    };
  } finally {
    await browser.close().catch(() => {});
    api.close();
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** The parts of a V8 CPU profile (Profiler.stop) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Where the page's long tasks spent their time: the samples that fall inside a long task, by the
 * function they were in (self) and by each function on their stack (total), the top few of each.
 */
function inLongTasks(profile: CpuProfile, watch: PageWatch): BenchRow[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url ? `${path.basename(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
  };
  // The profile's clock (µs) at the marker's first sample is the page's `marker` (ms).
  let t = profile.startTime;
  const times = profile.timeDeltas.map((d) => (t += d));
  const first = profile.samples.findIndex((id) => byId.get(id)!.callFrame.functionName === 'busyMarker');
  if (first < 0) return [{ name: 'profile: marker not found', value: 0, unit: '' }];
  const offset = times[first]! / 1000 - watch.marker;
  const spans = watch.spans.map(([s, d]) => [s + offset, s + offset + d] as const);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let sampled = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = times[i]! / 1000;
    if (!spans.some(([a, b]) => ms >= a && ms <= b)) continue;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    sampled += dt;
    const id = profile.samples[i]!;
    self.set(name(id), (self.get(name(id)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) seen.add(name(n));
    for (const s of seen) total.set(s, (total.get(s) ?? 0) + dt);
  }
  const top = (m: Map<string, number>, kind: string) =>
    [...m]
      .filter(([n]) => n !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([n, ms]) => ({ name: `long tasks, ${kind}: ${n}`, value: ms, unit: 'ms', note: `${((100 * ms) / sampled).toFixed(0)}% of ${sampled.toFixed(0)} ms sampled in ${spans.length} long tasks` }));
  return [...top(self, 'self'), ...top(total, 'total')];
}
