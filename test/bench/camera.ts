// Camera-path benchmark: `rws serve` in this process with the default pack on CPU, and Debian's
// Chromium (playwright-core) with its fake camera fed a generated Y4M. In the page, for each
// presented camera frame: grab it into a canvas at the model's size, POST classifyFrame, render
// the top-1 into the DOM and wait for the next paint. Latency = frame presented → prediction shown.
// Also: a mix change must act on the very next frame (counted), and its round trip.
// RWS_BENCH_CAMERA_PACK serves another pack folder (e.g. a copy naming another patching strategy).
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { defaultPackDir } from '../../main/engine/packs/pack.js';
import { startServer } from '../../main/serve/server.js';
import { writeFixturePack } from '../service/fixture-pack.js';
import { markedY4m } from '../e2e/y4m.js';
import { median, percentile, type BenchRow, type BenchSection } from './section.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SECONDS = Number(process.env.RWS_BENCH_CAMERA_SECONDS ?? 12);
/** Another pack folder to serve (e.g. one whose pack.json names another patching strategy, to compare). */
const PACK = process.env.RWS_BENCH_CAMERA_PACK || undefined;

interface PageFigures {
  latency: number[];
  grab: number[];
  request: number[];
  paint: number[];
  engine: number[];
  switches: number;
  lateSwitches: number;
  switchMs: number[];
  /** Median interval between the page's animation frames (the display's refresh), ms. */
  refresh: number;
}

/**
 * The loop that runs in the page (as text: this file is compiled without the DOM's types). Per
 * presented camera frame: grab, classify, show the top-1, wait for the paint; every 10th frame a mix
 * change with a new strength, and the next frame must carry that mix's key.
 */
const PAGE_LOOP = `async ({ seconds, compare, width, height, channels, ids, transport }) => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = stream;
  await video.play();
  const canvas = Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const shown = document.body.appendChild(document.createElement('output'));
  let post = (cmd, body) =>
    fetch('/api/' + cmd, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
  if (transport === 'socket') {
    // As the app's client does: commands over the event socket, replies matched by id.
    const ws = new WebSocket('ws://' + location.host + '/ws');
    await new Promise((r) => (ws.onopen = r));
    const waiting = new Map();
    let next = 1;
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (typeof m.id === 'number') { waiting.get(m.id)(m.result ?? m.error); waiting.delete(m.id); }
    };
    post = (command, args) => new Promise((resolve) => { const id = next++; waiting.set(id, resolve); ws.send(JSON.stringify({ id, command, args })); });
  }
  const out = { latency: [], grab: [], request: [], paint: [], engine: [], switches: 0, lateSwitches: 0, switchMs: [], refresh: 0 };
  // The display's refresh interval: a frame handed to the page at one refresh is shown at the next at
  // the earliest, so latency here comes in steps of it.
  const ticks = [];
  for (let i = 0; i < 31; i++) ticks.push(await new Promise((r) => requestAnimationFrame(r)));
  const gaps = ticks.slice(1).map((t, i) => t - ticks[i]).sort((a, b) => a - b);
  out.refresh = gaps[gaps.length >> 1];
  let frame = 0;
  let expectKey = null;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t0 = await new Promise((r) => video.requestVideoFrameCallback(() => r(performance.now())));
    ctx.drawImage(video, 0, 0, width, height);
    const px = ctx.getImageData(0, 0, width, height).data;
    const data = new Array(width * height * channels);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) data[i * channels + c] = px[i * 4 + (channels === 1 ? 0 : c)] / 255;
    const t1 = performance.now();
    const res = await post('classifyFrame', { width, height, channels, data, compare, top: 5 });
    const t2 = performance.now();
    shown.textContent = res.patched[0].label + ' ' + (res.patched[0].score * 100).toFixed(1) + '%';
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    const t3 = performance.now();
    out.latency.push(t3 - t0);
    out.grab.push(t1 - t0);
    out.request.push(t2 - t1);
    out.paint.push(t3 - t2);
    out.engine.push(res.ms);
    if (expectKey !== null) {
      out.switches++;
      if (res.mixKey !== expectKey) out.lateSwitches++;
      expectKey = null;
    }
    if (++frame % 10 === 0) {
      const id = ids[(frame / 10) % ids.length];
      const alpha = 0.5 + ((frame / 10) % 7) / 10;
      const s0 = performance.now();
      const set = await post('setMix', { mix: { [id]: alpha } });
      out.switchMs.push(performance.now() - s0);
      expectKey = set.key;
    }
  }
  stream.getTracks().forEach((t) => t.stop());
  return out;
}`;

/** Camera frame → prediction shown (p50, p95), with and without the clean comparison; mix changes on the next frame. */
export async function benchCamera(): Promise<BenchSection> {
  const title = 'Camera path (Chromium fake camera → rws serve → prediction shown)';
  if (!existsSync(CHROMIUM)) return { title, rows: [{ name: 'skipped', value: 0, unit: '', note: `no Chromium at ${CHROMIUM}` }] };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'rws-bench-camera-'));
  const packDir = PACK ?? (existsSync(path.join(defaultPackDir(), 'pack.json')) ? defaultPackDir() : writeFixturePack(path.join(tmp, 'pack')));
  const packNote = PACK ? `pack ${PACK}` : packDir === defaultPackDir() ? 'default pack' : 'fixture pack of the default pack’s size (default pack not found)';
  const video = path.join(tmp, 'camera.y4m');
  const pictures = Array.from({ length: 60 }, (_, i) => ({
    size: 28,
    data: Float32Array.from({ length: 784 }, (_, p) => ((p * (i + 3)) % 97) / 96),
  }));
  writeFileSync(video, markedY4m(pictures, 30));
  const server = await startServer({ port: 0, roots: [tmp], packDir });
  const context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${video}`, '--use-fake-ui-for-media-stream',
    ],
  });
  try {
    const info = await server.service.call('loadPack', {});
    const ids = info.signatures.filter((s) => s.available).map((s) => s.id);
    if (ids.length === 0) throw new Error('the pack has no usable signature');
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(server.url);
    const run = (compare: boolean, transport: 'http' | 'socket') =>
      page.evaluate(`(${PAGE_LOOP})(${JSON.stringify({ seconds: SECONDS, compare, width: info.input.width, height: info.input.height, channels: info.input.channels, ids, transport })})`) as Promise<PageFigures>;
    const rows: BenchRow[] = [];
    for (const [compare, transport] of [[true, 'socket'], [false, 'socket'], [true, 'http']] as const) {
      const f = await run(compare, transport);
      const tag = `${compare ? 'patched + clean' : 'patched only'}, ${transport === 'socket' ? 'WebSocket (the app)' : 'HTTP POST'}`;
      rows.push(
        { name: `frame → prediction shown, p50 (${tag})`, value: median(f.latency), unit: 'ms', note: `${f.latency.length} frames, ${packNote}, CPU` },
        { name: `frame → prediction shown, p95 (${tag})`, value: percentile(f.latency, 95), unit: 'ms', target: '≤ 16 ms', note: `the display refreshes every ${f.refresh.toFixed(1)} ms: a frame is shown at the refresh after the one that presented it at the earliest` },
        { name: `  frames shown later than the next refresh (${tag})`, value: f.latency.filter((l) => l > 1.5 * f.refresh).length, unit: `of ${f.latency.length}`, target: '0' },
        { name: `  grab + convert in the page, p50 (${tag})`, value: median(f.grab), unit: 'ms' },
        { name: `  classifyFrame request round trip, p50 / p95 (${tag})`, value: median(f.request), unit: `ms / ${percentile(f.request, 95).toFixed(1)} ms` },
        { name: `  engine time inside it, p50 (${tag})`, value: median(f.engine), unit: 'ms' },
        { name: `  wait for the paint, p50 (${tag})`, value: median(f.paint), unit: 'ms' },
        { name: `mix changes not on the very next frame (${tag})`, value: f.lateSwitches, unit: `of ${f.switches}`, target: '0' },
        { name: `setMix round trip from the page, p50 (${tag})`, value: median(f.switchMs), unit: 'ms' },
      );
    }
    return { title, rows };
  } finally {
    await context.close().catch(() => {});
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
