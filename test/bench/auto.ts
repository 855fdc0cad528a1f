// Auto benchmark: what `--mix auto` costs. On a camera stream, the bandit (a classifier proposal
// and an exploring run every 25th frame, between frames) against plain frames, median and p95, in
// process and through the service at a camera's pace; over a folder,
// sample-then-commit against plain batches; on the default pack when it has a classifier, else on a
// default-pack-sized model with signatures and a classifier made here.
// Runs alone with `node dist/test/bench/auto.js` after `npm run build`, or via `npm run bench auto`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { conditionFeatures } from '../../main/core/condition-features.js';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { mixSeed } from '../../main/core/random.js';
import { packCandidates, type AutoRun } from '../../main/engine/auto/choice.js';
import { createChooser } from '../../main/engine/auto/chooser.js';
import { AutoMix, imagesFromInput } from '../../main/engine/auto/mix.js';
import { toTensor } from '../../main/engine/io/image-decode.js';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../main/engine/onnx/model.js';
import { defaultPackDir, loadPack, parsePackManifest, type PackManifest } from '../../main/engine/packs/pack.js';
import { loadSignatures, Patcher } from '../../main/engine/runtime/patcher.js';
import { createService } from '../../main/service/index.js';
import { smallResNet } from '../fixtures/models.js';
import { shallowSignature } from '../fixtures/signatures.js';
import { smallClassifier, syntheticItems, TEST_CONDITIONS } from '../engine/auto/fixtures.js';
import { median, percentile, type BenchRow, type BenchSection } from './section.js';

function log(text: string): void {
  process.stderr.write(`bench auto: ${text}\n`);
}

interface Setup {
  label: string;
  /** A new patcher of the model and its signatures (the camera rows use two). */
  makePatcher: () => Promise<Patcher>;
  manifest: PackManifest;
}

async function setup(): Promise<Setup> {
  const dir = process.env.RWS_PACK_DIR ?? defaultPackDir();
  if (existsSync(path.join(dir, 'pack.json'))) {
    const pack = await loadPack(dir);
    if (pack.manifest.autoMix?.classifier && pack.missing.length === 0) {
      const makePatcher = async () => Patcher.create(await loadOnnx(pack.modelPath), await loadSignatures(pack.signatureFiles), { threads: 2 });
      return { label: `default pack ${pack.manifest.id}`, makePatcher, manifest: pack.manifest };
    }
    log('the default pack has no autoMix classifier (or misses signatures): using a model of its size');
  }
  const fixture = smallResNet();
  const model = parseOnnx(fixture.bytes, { file: 'small-resnet.onnx' });
  const sigs = new Map(TEST_CONDITIONS.map((c, i) => [c, shallowSignature(model, c, 10 + i)]));
  const makePatcher = () => Patcher.create(model, sigs, { threads: 2 });
  const manifest = parsePackManifest(
    JSON.stringify({
      format: 'rws-pack/1',
      id: 'bench',
      name: 'Bench',
      version: '1',
      task: 'classification',
      model: 'model.onnx',
      input: { name: fixture.input.name, layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.286], std: [0.353], resize: 'fill' },
      output: { name: fixture.output, kind: 'logits' },
      labels: Array.from({ length: fixture.classes }, (_, i) => `c${i}`),
      signatures: TEST_CONDITIONS.map((c) => ({ id: c, condition: c, sha256: 'a'.repeat(64) })),
      autoMix: { classifier: smallClassifier() },
    }),
    'bench pack.json',
  );
  return { label: 'default-pack size (smallResNet)', makePatcher, manifest };
}

/** Milliseconds `f` takes. */
async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Waits until `performance.now()` reaches `t`. */
async function sleepUntil(t: number): Promise<void> {
  const ms = t - performance.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/** Frames of a camera pointed at changing weather: clean, then each condition at severity 3 for 40 frames. */
function frames(count: number): Image[] {
  const items = syntheticItems(64, 21);
  const phases = ['clean', ...TEST_CONDITIONS];
  return Array.from({ length: count }, (_, f) => {
    const phase = phases[Math.floor(f / 40) % phases.length]!;
    const img = items[f % items.length]!;
    return phase === 'clean' ? img : corrupt(img, phase, 3, mixSeed(31, f));
  });
}

/** Benchmarks auto's cost per frame; see the top of this file. */
export async function benchAuto(): Promise<BenchSection> {
  const rows: BenchRow[] = [];
  const { label, makePatcher, manifest } = await setup();
  const patcher = await makePatcher();
  const spec = manifest.input;
  const auto = AutoMix.fromPack(manifest);
  const list = frames(280).map((img) => {
    const px = Uint8Array.from(img.data, (v) => Math.round(v * 255));
    return toTensor(px, 1, spec);
  });
  const dims = [1, spec.channels, spec.height, spec.width];
  log(`${label}: ${list.length} frames`);

  // Auto's own work per frame: tensor → image, features, classifier, tracker.
  const autoOnly: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    auto.reset();
    for (const x of list) {
      const t0 = performance.now();
      auto.observe(imagesFromInput(x, dims, spec));
      autoOnly.push(performance.now() - t0);
    }
  }
  rows.push({ name: `auto per frame, ${spec.width}×${spec.height} (features + classifier + tracker)`, value: median(autoOnly) * 1000, unit: 'µs' });

  const big: Image = { width: 224, height: 224, channels: 3, data: Float32Array.from({ length: 224 * 224 * 3 }, (_, i) => ((i * 7919) % 256) / 255) };
  const bigTimes: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    conditionFeatures(big);
    bigTimes.push(performance.now() - t0);
  }
  rows.push({ name: 'features per frame, 224×224 RGB (ResNet-18 input)', value: median(bigTimes), unit: 'ms', note: 'ResNet-18 batch-1 inference is 10–40 ms on these machines' });

  // A camera frame with and without auto (the stream bandit), interleaved so load drift hits both.
  // Two patchers, so that neither side switches its mix per frame (a camera's mix is steady between
  // frames): the plain one follows Auto's mix as a user's fixed mix would, so the rows compare Auto's
  // own work, not one mix's weights against another's. A frame's time is until its result; the check
  // of a challenger that Auto then runs (`explore`, between frames) is timed apart.
  const classes = manifest.labels.length;
  const candidates = packCandidates(manifest);
  const plainPatcher = await makePatcher();
  const plain: number[] = [];
  const withAuto: number[] = [];
  const checks: number[] = [];
  let switches = 0;
  let inferences = 0;
  const counted = { setMix: (m: Parameters<Patcher['setMix']>[0]) => patcher.setMix(m), run: (x: Float32Array, d: number[]) => (inferences++, patcher.run(x, d)) };
  for (const p of [patcher, plainPatcher]) {
    await p.setMix({});
    for (const x of list.slice(0, 8)) await p.run(x, dims);
  }
  for (let rep = 0; rep < 2; rep++) {
    const stream = createChooser('stream', counted, candidates, { classes, kind: manifest.output.kind, recogniser: AutoMix.fromPack(manifest) });
    for (const [i, x] of list.entries()) {
      const plainFirst = i % 2 === 0;
      if (plainFirst) plain.push(await timed(() => plainPatcher.run(x, dims)));
      let r: AutoRun | undefined;
      withAuto.push(await timed(async () => void (r = await stream.run(x, dims, () => imagesFromInput(x, dims, spec)))));
      if (!plainFirst) plain.push(await timed(() => plainPatcher.run(x, dims)));
      checks.push(await timed(async () => void (await stream.explore?.())));
      if (r!.choices[0]!.switched) switches++;
      await plainPatcher.setMix(patcher.mix);
    }
  }
  await plainPatcher.dispose();
  rows.push({ name: 'frame inference, batch 1 (no auto)', value: median(plain), unit: 'ms', note: label });
  rows.push({ name: 'auto per frame / inference per frame', value: (median(autoOnly) / median(plain)) * 100, unit: '%', note: 'the classifier alone' });
  rows.push({ name: 'frame with auto / frame without, to its result (median, interleaved)', value: median(withAuto) / median(plain), unit: '×', note: `${switches} switches in ${withAuto.length} frames` });
  rows.push({ name: 'frame with auto / frame without, to its result (p95)', value: percentile(withAuto, 95) / percentile(plain, 95), unit: '×', target: '≤ 1.10' });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  rows.push({
    name: 'work per frame with auto / without, checks between frames included (mean)',
    value: (sum(withAuto) + sum(checks)) / sum(plain),
    unit: '×',
    note: `${(inferences / withAuto.length).toFixed(3)} inferences per frame; the checks take a camera's idle time between frames`,
  });

  // A folder: sample-then-commit over 2,048 images in batches of 32 against plain batches.
  const batchDimsOf = (n: number) => [n, spec.channels, spec.height, spec.width];
  const folder = Array.from({ length: 64 }, (_, b) => {
    const x = new Float32Array(32 * list[0]!.length);
    for (let i = 0; i < 32; i++) x.set(list[(b * 32 + i) % list.length]!, i * list[0]!.length);
    return x;
  });
  await patcher.setMix({});
  let t0 = performance.now();
  for (const x of folder) await patcher.run(x, batchDimsOf(32));
  const plainFolder = performance.now() - t0;
  const sc = createChooser('folder', patcher, candidates, { classes, kind: manifest.output.kind });
  t0 = performance.now();
  for (const x of folder) await sc.run(x, batchDimsOf(32));
  rows.push({ name: `folder of 2,048 images with auto / without (${candidates.length + 1} candidates sampled on 32–256 images)`, value: (performance.now() - t0) / plainFolder, unit: '×' });
  await patcher.dispose();

  // Camera mode as the app runs it: classifyFrame through the service (inference in a worker), with
  // and without auto, at a camera's pace: each side its own service, fed a frame every 33 ms, the
  // side without auto half-way between (their order alternating) and under the mix Auto is on. On one
  // service, Auto's check after a frame would delay whichever frame came next, often the other side's.
  // A real pack only (the service loads it from its folder).
  const packDir = process.env.RWS_PACK_DIR ?? defaultPackDir();
  if (label.startsWith('default pack') || process.env.RWS_PACK_DIR) {
    const withService = await createService({ packDir });
    const withoutService = await createService({ packDir });
    try {
      const framesHwc = frames(280).map((img) => ({ width: img.width, height: img.height, channels: img.channels, data: img.data }));
      for (const f of framesHwc.slice(0, 10)) for (const s of [withService, withoutService]) await s.call('classifyFrame', f);
      const off: number[] = [];
      const on: number[] = [];
      const period = 33;
      let tick = performance.now();
      for (const [i, f] of framesHwc.entries()) {
        const runOne = async (auto: boolean) => (auto ? on : off).push(await timed(() => (auto ? withService : withoutService).call('classifyFrame', { ...f, auto })));
        await runOne(i % 2 === 0);
        await sleepUntil(tick + period / 2);
        await runOne(i % 2 !== 0);
        const mix = (await withService.call('getState', undefined)).mix;
        await withoutService.call('setMix', { mix });
        tick += period;
        await sleepUntil(tick);
      }
      rows.push({ name: 'classifyFrame (service, worker), no auto, at 30 frames/s', value: median(off), unit: 'ms' });
      rows.push({ name: 'classifyFrame with auto / without (median)', value: median(on) / median(off), unit: '×', note: 'camera mode minus the browser; its frame → shown time is larger still' });
      rows.push({ name: 'classifyFrame with auto / without (p95)', value: percentile(on, 95) / percentile(off, 95), unit: '×', target: '≤ 1.10' });
    } finally {
      await withService.dispose();
      await withoutService.dispose();
    }
  }
  return { title: 'Auto condition (CPU)', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await benchAuto();
  for (const r of s.rows) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
