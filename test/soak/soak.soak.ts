// Soak (`npm run soak`, not in CI): the camera path at 30 frames/s with the mix changing every
// 100 ms, then a folder run over 50,000 generated images, both through the command service over
// the real engine (onnxruntime in a worker thread, as the app and `rws serve` run it). Prints RSS at
// start and end, errors, and throughput over time; writes the same as JSON.
//   SOAK_MINUTES  camera phase length (default 10)       SOAK_IMAGES  folder size (default 50000)
//   SOAK_SAMPLE_S seconds per table row (default 30 for the camera, 10 for the folder run, a minute long)
//   SOAK_PACK     pack folder (default: the bundled pack)
//   SOAK_OUT      JSON report (default: OS temp dir)    SOAK_WARMUP  images of the warm-up folder run (default SOAK_IMAGES)
// The folder phase reports RSS growth twice: cold (from before any folder run) and warm (from after a
// warm-up run over SOAK_WARMUP other images). The first run of a process settles its working set —
// V8's young generation grows to its full size, freed pages are kept for reuse, the run's result
// store — about 35 MiB here; a leak would show in the warm figure, which must stay within 5%.
// RSS at start and end is read after full GCs (node --expose-gc, set in the soak's vitest config),
// so garbage that V8 has not yet collected does not count as growth either way; the raw readings
// are reported beside them.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FolderProgress } from '../../main/api/contract.js';
import { defaultPackDir } from '../../main/engine/packs/pack.js';
import { RemotePatcher } from '../../main/engine/runtime/remote-patcher.js';
import { createService, type Service } from '../../main/service/index.js';
import type { ClassifierFactory } from '../../main/service/models.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { seededRandom } from '../fixtures/models.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const IMAGES = Number(process.env.SOAK_IMAGES ?? 50_000);
const SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 30);
const FOLDER_SAMPLE_S = Number(process.env.SOAK_SAMPLE_S ?? 10);
const WARMUP = Number(process.env.SOAK_WARMUP ?? IMAGES);
const FPS = 30;
const MIX_EVERY_MS = 100;

const mib = (b: number) => b / 1048576;
const rss = () => process.memoryUsage.rss();
/** RSS once V8 has collected what it can (two full GCs, a pause for freed pages to go back). */
async function settledRss(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the soak needs node --expose-gc (test/soak/vitest.config.ts sets it)');
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 250));
  }
  return rss();
}
const pct = (a: number, b: number) => (b / a - 1) * 100;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const percentile = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : NaN);

function table(rows: (string | number)[][]): string {
  const text = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(1)) : c)));
  const w = text[0]!.map((_, i) => Math.max(...text.map((r) => r[i]!.length)));
  return text.map((r) => r.map((c, i) => c.padStart(w[i]!)).join('  ')).join('\n');
}

let tmp: string;
let service: Service;
const report: Record<string, unknown> = {};

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-soak-')));
  const packDir = process.env.SOAK_PACK ?? defaultPackDir();
  const workerUrl = compiledWorkerUrl();
  const factory: ClassifierFactory = (m, s, o) => RemotePatcher.create(m, s, { device: o.device, force: o.force, workerUrl });
  service = await createService({ roots: [tmp], packDir, classifierFactory: factory });
  await service.call('loadPack', {});
}, 300_000);

afterAll(async () => {
  await service?.dispose();
  const out = process.env.SOAK_OUT ?? path.join(os.tmpdir(), `rws-soak-${Date.now()}.json`);
  writeFileSync(out, JSON.stringify(report, null, 2));
  console.log(`soak report: ${out}`);
  rmSync(tmp, { recursive: true, force: true });
});

describe(`soak: camera ${MINUTES} min at ${FPS} frames/s, mix every ${MIX_EVERY_MS} ms; folder of ${IMAGES} images`, () => {
  it('camera path: no errors, RSS growth ≤ 5%', async () => {
    const pack = (await service.call('getPack', undefined))!;
    const spec = pack.input;
    const ids = pack.signatures.filter((s) => s.available).map((s) => s.id);
    const rnd = seededRandom(42);
    const n = spec.width * spec.height * spec.channels;
    // A handful of distinct frames, as a camera would send: varied content, fixed size.
    const frames = Array.from({ length: 8 }, (_, f) => Float32Array.from({ length: n }, (_, i) => ((i * (f + 3) * 37) % 101) / 100));

    const errors: string[] = [];
    const latencies: number[] = [];
    let frames_ = 0;
    let dropped = 0;
    let mixes = 0;
    let busy = false;
    const rows: (string | number)[][] = [['t s', 'frames', 'fps', 'dropped', 'mix changes', 'p50 ms', 'p95 ms', 'errors', 'RSS MiB', 'heap MiB']];
    const samples: Record<string, number>[] = [];

    // Warm up (first sessions, JIT, arenas), then take the starting RSS.
    for (let i = 0; i < 30; i++) await service.call('classifyFrame', { width: spec.width, height: spec.height, channels: spec.channels, data: frames[i % 8]!, top: 5 });
    const rawStart = rss();
    const rssStart = await settledRss();
    const t0 = performance.now();
    const end = t0 + MINUTES * 60_000;

    const mixTimer = setInterval(() => {
      const mix: Record<string, number> = {};
      for (const id of ids) if (rnd() < 0.7) mix[id] = Math.round(rnd() * 150) / 100;
      service.call('setMix', { mix }).then(() => void mixes++, (e: Error) => void errors.push(`setMix: ${e.message}`));
    }, MIX_EVERY_MS);
    let windowStart = t0;
    let windowFrames = 0;
    let windowLat: number[] = [];
    const sampleTimer = setInterval(() => {
      const now = performance.now();
      const m = process.memoryUsage();
      const row = { t: (now - t0) / 1000, frames: frames_, fps: (windowFrames * 1000) / (now - windowStart), dropped, mixes, p50: percentile(windowLat, 0.5), p95: percentile(windowLat, 0.95), errors: errors.length, rss: mib(m.rss), heap: mib(m.heapUsed) };
      samples.push(row);
      rows.push(Object.values(row));
      windowStart = now;
      windowFrames = 0;
      windowLat = [];
    }, SAMPLE_S * 1000);

    // Frames on a fixed 30/s clock; a tick that finds the previous frame still running is dropped, as a camera would.
    await new Promise<void>((resolve) => {
      let tick = 0;
      const frameTimer = setInterval(() => {
        if (performance.now() >= end) {
          clearInterval(frameTimer);
          const wait = () => (busy ? setTimeout(wait, 5) : resolve());
          return wait();
        }
        if (busy) return void dropped++;
        busy = true;
        const data = frames[tick++ % frames.length]!;
        const s = performance.now();
        service
          .call('classifyFrame', { width: spec.width, height: spec.height, channels: spec.channels, data, top: 5 })
          .then(
            () => {
              const ms = performance.now() - s;
              latencies.push(ms);
              windowLat.push(ms);
              frames_++;
              windowFrames++;
            },
            (e: Error) => void errors.push(`classifyFrame: ${e.message}`),
          )
          .finally(() => void (busy = false));
      }, 1000 / FPS);
    });
    clearInterval(mixTimer);
    clearInterval(sampleTimer);
    const seconds = (performance.now() - t0) / 1000;
    const rawEnd = rss();
    const rssEnd = await settledRss();
    const growth = pct(rssStart, rssEnd);
    report.camera = {
      minutes: MINUTES, seconds, frames: frames_, fps: frames_ / seconds, dropped, mixChanges: mixes, p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), errors,
      rssStartMiB: mib(rssStart), rssEndMiB: mib(rssEnd), rssGrowthPercent: growth, rawRssStartMiB: mib(rawStart), rawRssEndMiB: mib(rawEnd), rawRssGrowthPercent: pct(rawStart, rawEnd), samples,
    };
    console.log(
      `\ncamera soak: ${seconds.toFixed(0)} s, ${frames_} frames (${(frames_ / seconds).toFixed(1)}/s), ${dropped} ticks dropped, ${mixes} mix changes, ` +
        `latency p50 ${percentile(latencies, 0.5).toFixed(1)} ms p95 ${percentile(latencies, 0.95).toFixed(1)} ms, ${errors.length} errors, ` +
        `RSS after GC ${mib(rssStart).toFixed(0)} → ${mib(rssEnd).toFixed(0)} MiB (${signed(growth)}), raw ${mib(rawStart).toFixed(0)} → ${mib(rawEnd).toFixed(0)} MiB (${signed(pct(rawStart, rawEnd))})\n${table(rows)}`,
    );
    if (errors.length) console.log(`first errors:\n  ${errors.slice(0, 5).join('\n  ')}`);
    expect(errors).toEqual([]);
    expect(growth).toBeLessThanOrEqual(5);
  }, (MINUTES * 60 + 300) * 1000);

  it(`folder run over ${IMAGES} images: no errors, RSS and throughput over time`, async () => {
    const pack = (await service.call('getPack', undefined))!;
    const input = path.join(tmp, 'images');
    const t0gen = performance.now();
    // 256 distinct small PNGs, written under 50,000 names in 100 sub-folders (a camera's day of snapshots).
    const rnd = seededRandom(7);
    const distinct: Buffer[] = [];
    for (let i = 0; i < 256; i++) {
      const w = pack.input.width + (i % 5);
      const raw = Buffer.from(Array.from({ length: w * w }, () => Math.floor(rnd() * 256)));
      distinct.push(await sharp(raw, { raw: { width: w, height: w, channels: 1 } }).png().toBuffer());
    }
    for (let i = 0; i < IMAGES; i++) {
      const dir = path.join(input, `d${String(i % 100).padStart(2, '0')}`);
      if (i < 100) mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `img${String(i).padStart(6, '0')}.png`), distinct[i % 256]!);
    }
    const warmInput = path.join(tmp, 'warm-up');
    mkdirSync(warmInput);
    for (let i = 0; i < WARMUP; i++) writeFileSync(path.join(warmInput, `w${String(i).padStart(6, '0')}.png`), distinct[(i * 7) % 256]!);
    const genSeconds = (performance.now() - t0gen) / 1000;
    const mix = ids(pack).map((id) => `${id}=0.5`).join(',') || 'off';

    const rssCold = await settledRss();
    if (WARMUP > 0) {
      const warmed = new Promise<FolderProgress>((resolve) => {
        const off = service.on('progress', (p) => {
          if (p.kind === 'folder' && (p.phase === 'done' || p.phase === 'failed' || p.phase === 'stopped')) {
            off();
            resolve(p);
          }
        });
      });
      await service.call('startFolderRun', { inputs: [warmInput], output: path.join(tmp, 'out-warm-up'), mix });
      expect((await warmed).phase).toBe('done');
    }

    const rows: (string | number)[][] = [['t s', 'done', 'failed', 'img/s (window)', 'img/s (run)', 'RSS MiB', 'heap MiB']];
    const samples: Record<string, number>[] = [];
    let last: FolderProgress | undefined;
    const rawStart = rss();
    const rssStart = await settledRss();
    const t0 = performance.now();
    let windowStart = t0;
    let windowDone = 0;
    const done = new Promise<FolderProgress>((resolve) => {
      const off = service.on('progress', (p) => {
        if (p.kind !== 'folder') return;
        last = p;
        if (p.phase === 'done' || p.phase === 'failed' || p.phase === 'stopped') {
          off();
          resolve(p);
        }
      });
    });
    const sampleTimer = setInterval(() => {
      const now = performance.now();
      const m = process.memoryUsage();
      const d = last?.done ?? 0;
      const row = { t: (now - t0) / 1000, done: d, failed: last?.failed ?? 0, window: ((d - windowDone) * 1000) / (now - windowStart), run: (d * 1000) / (now - t0), rss: mib(m.rss), heap: mib(m.heapUsed) };
      samples.push(row);
      rows.push(Object.values(row));
      windowStart = now;
      windowDone = d;
    }, FOLDER_SAMPLE_S * 1000);
    await service.call('startFolderRun', { inputs: [input], output: path.join(tmp, 'out'), mix });
    const end = await done;
    clearInterval(sampleTimer);
    const seconds = (performance.now() - t0) / 1000;
    const rawEnd = rss();
    const rssEnd = await settledRss();
    const growth = pct(rssStart, rssEnd);
    const coldGrowth = pct(rssCold, rssEnd);
    // Once the run's own per-file state (file list, done set, results) is allocated, RSS should stay flat.
    const firstSample = samples[0]?.rss;
    const steadyGrowth = firstSample ? (mib(rawEnd) / firstSample - 1) * 100 : null;
    report.folder = {
      images: IMAGES,
      generateSeconds: genSeconds,
      seconds,
      phase: end.phase,
      done: end.done,
      failed: end.failed,
      rate: end.done / seconds,
      malloc: { arenaMax: process.env.MALLOC_ARENA_MAX ?? null, mmapThreshold: process.env.MALLOC_MMAP_THRESHOLD_ ?? null, trimThreshold: process.env.MALLOC_TRIM_THRESHOLD_ ?? null },
      warmUpImages: WARMUP,
      rssColdMiB: mib(rssCold),
      rssStartMiB: mib(rssStart),
      rssEndMiB: mib(rssEnd),
      rssGrowthPercent: growth,
      rssColdGrowthPercent: coldGrowth,
      rawRssStartMiB: mib(rawStart),
      rawRssEndMiB: mib(rawEnd),
      rawRssGrowthPercent: pct(rawStart, rawEnd),
      rssGrowthAfterFirstSamplePercent: steadyGrowth,
      samples,
      message: end.message,
    };
    console.log(
      `\nfolder soak: ${IMAGES} images (generated in ${genSeconds.toFixed(0)} s), ${end.phase} in ${seconds.toFixed(0)} s: ${end.done} done, ${end.failed} failed, ` +
        `${(end.done / seconds).toFixed(0)} images/s; RSS after GC, from after a ${WARMUP}-image warm-up ${mib(rssStart).toFixed(0)} → ${mib(rssEnd).toFixed(0)} MiB (${signed(growth)}), ` +
        `from before it ${mib(rssCold).toFixed(0)} MiB (${signed(coldGrowth)}); raw ${mib(rawStart).toFixed(0)} → ${mib(rawEnd).toFixed(0)} MiB (${signed(pct(rawStart, rawEnd))})` +
        `${steadyGrowth === null ? '' : `, from the first sample (${FOLDER_SAMPLE_S} s in) ${signed(steadyGrowth)}`}; MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'} MALLOC_MMAP_THRESHOLD_=${process.env.MALLOC_MMAP_THRESHOLD_ ?? 'unset'} MALLOC_TRIM_THRESHOLD_=${process.env.MALLOC_TRIM_THRESHOLD_ ?? 'unset'}\n${table(rows)}`,
    );
    expect(end.phase).toBe('done');
    expect(end.failed).toBe(0);
    expect(end.done).toBe(IMAGES);
    expect(growth).toBeLessThanOrEqual(5);
  }, 6 * 3600_000);
});

function ids(pack: { signatures: { id: string; available: boolean }[] }): string[] {
  return pack.signatures.filter((s) => s.available).map((s) => s.id);
}
