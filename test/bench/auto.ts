// Auto condition benchmark: what `--mix auto` adds per camera frame. The classifier route (image
// features + logistic regression + tracker) against a frame's inference, and the entropy route
// (one inference per candidate mix) for comparison; on the default pack when it has a classifier,
// else on a default-pack-sized model with signatures and a classifier made here.
// Runs alone with `node dist/test/bench/auto.js` after `npm run build`, or via `npm run bench auto`.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { conditionFeatures } from '../../main/core/condition-features.js';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { mixSeed } from '../../main/core/random.js';
import { AutoMix, chooseByEntropy, imagesFromInput, packCandidates } from '../../main/engine/auto/mix.js';
import { toTensor } from '../../main/engine/io/image-decode.js';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../main/engine/onnx/model.js';
import { defaultPackDir, loadPack, parsePackManifest, type PackManifest } from '../../main/engine/packs/pack.js';
import { loadSignatures, Patcher } from '../../main/engine/runtime/patcher.js';
import { createService } from '../../main/service/index.js';
import { smallResNet } from '../fixtures/models.js';
import { shallowSignature } from '../fixtures/signatures.js';
import { smallClassifier, syntheticItems, TEST_CONDITIONS } from '../engine/auto/fixtures.js';
import { median, type BenchRow, type BenchSection } from './section.js';

function log(text: string): void {
  process.stderr.write(`bench auto: ${text}\n`);
}

interface Setup {
  label: string;
  patcher: Patcher;
  manifest: PackManifest;
}

async function setup(): Promise<Setup> {
  const dir = process.env.RWS_PACK_DIR ?? defaultPackDir();
  if (existsSync(path.join(dir, 'pack.json'))) {
    const pack = await loadPack(dir);
    if (pack.manifest.autoMix?.classifier && pack.missing.length === 0) {
      const patcher = await Patcher.create(await loadOnnx(pack.modelPath), await loadSignatures(pack.signatureFiles), { threads: 2 });
      return { label: `default pack ${pack.manifest.id}`, patcher, manifest: pack.manifest };
    }
    log('the default pack has no autoMix classifier (or misses signatures): using a model of its size');
  }
  const fixture = smallResNet();
  const model = parseOnnx(fixture.bytes, { file: 'small-resnet.onnx' });
  const sigs = new Map(TEST_CONDITIONS.map((c, i) => [c, shallowSignature(model, c, 10 + i)]));
  const patcher = await Patcher.create(model, sigs, { threads: 2 });
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
  return { label: 'default-pack size (smallResNet)', patcher, manifest };
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
  const { label, patcher, manifest } = await setup();
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

  // A camera frame with and without auto, interleaved so load drift hits both.
  const plain: number[] = [];
  const withAuto: number[] = [];
  let switches = 0;
  auto.reset();
  await patcher.setMix({});
  for (const x of list.slice(0, 8)) await patcher.run(x, dims);
  for (let rep = 0; rep < 2; rep++) {
    for (const x of list) {
      let t0 = performance.now();
      await patcher.run(x, dims);
      plain.push(performance.now() - t0);
      t0 = performance.now();
      const c = auto.observe(imagesFromInput(x, dims, spec));
      if (c.switched) switches++;
      await patcher.setMix(c.mix);
      await patcher.run(x, dims);
      withAuto.push(performance.now() - t0);
    }
    // The plain runs stay on the last mix; put it back to clean for the next pass.
    auto.reset();
    await patcher.setMix({});
  }
  rows.push({ name: 'frame inference, batch 1 (no auto)', value: median(plain), unit: 'ms', note: label });
  rows.push({ name: 'auto per frame / inference per frame', value: (median(autoOnly) / median(plain)) * 100, unit: '%', target: '≤ 10%', note: 'inference alone; a camera frame (grab, IPC, paint) costs more, so the share there is smaller' });
  rows.push({ name: 'frame with auto / frame without (median, interleaved)', value: median(withAuto) / median(plain), unit: '×', note: `${switches} switches in ${withAuto.length} frames, each paid in its frame` });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  rows.push({ name: 'frame with auto / frame without (mean, switches included)', value: sum(withAuto) / sum(plain), unit: '×' });

  // The entropy route: one inference per candidate (and a switch to each) for every decision.
  const candidates = packCandidates(manifest);
  const entropyTimes: number[] = [];
  for (const x of list.slice(0, 40)) {
    const t0 = performance.now();
    await chooseByEntropy(patcher, x, dims, candidates);
    entropyTimes.push(performance.now() - t0);
  }
  rows.push({ name: `entropy choice per frame (${candidates.length + 1} candidates) / frame without`, value: median(entropyTimes) / median(plain), unit: '×', note: 'the alternative the classifier replaced' });
  await patcher.dispose();

  // Camera mode as the app runs it: classifyFrame through the service (inference in a worker), with
  // and without auto, interleaved; a real pack only (the service loads it from its folder).
  const packDir = process.env.RWS_PACK_DIR ?? defaultPackDir();
  if (label.startsWith('default pack') || process.env.RWS_PACK_DIR) {
    const service = await createService({ packDir });
    try {
      const framesHwc = frames(280).map((img) => ({ width: img.width, height: img.height, channels: img.channels, data: img.data }));
      for (const f of framesHwc.slice(0, 10)) await service.call('classifyFrame', f);
      const off: number[] = [];
      const on: number[] = [];
      for (const f of framesHwc) {
        let t0 = performance.now();
        await service.call('classifyFrame', f);
        off.push(performance.now() - t0);
        t0 = performance.now();
        await service.call('classifyFrame', { ...f, auto: true });
        on.push(performance.now() - t0);
      }
      rows.push({ name: 'classifyFrame (service, worker), no auto', value: median(off), unit: 'ms' });
      rows.push({ name: 'classifyFrame with auto / without (median)', value: median(on) / median(off), unit: '×', target: '≤ 1.10', note: 'camera mode minus the browser; its frame → shown time is larger still' });
    } finally {
      await service.dispose();
    }
  }
  return { title: 'Auto condition (CPU)', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const s = await benchAuto();
  for (const r of s.rows) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
