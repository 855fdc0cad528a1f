// Folder-run benchmark: on generated folders of 5,000 images at two sizes (28×28 like the default
// pack's input, and 1920×1080 photos), the pipeline's rate against decoding alone and inference
// alone, each measured in this run on all cores, and the process's RSS at 1k and 5k images.
// Images are generated once into <OS temp>/rws-bench-folder/ and reused by later runs.
import { copyFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Classifier } from '../../main/engine/folder/classifier.js';
import { chooseBatch, defaultDecoders, runFolder } from '../../main/engine/folder/run.js';
import { walkInputs } from '../../main/engine/folder/walk.js';
import { decodeImage } from '../../main/engine/io/image-decode.js';
import { defaultPackDir, loadPack, type InputSpec } from '../../main/engine/packs/pack.js';
import { RemotePatcher } from '../../main/engine/runtime/remote-patcher.js';
import { smallResNet } from '../fixtures/models.js';
import { testImage } from '../engine/folder/fixtures.js';
import type { BenchRow, BenchSection } from './section.js';

export const COUNT = Number(process.env.RWS_BENCH_FOLDER_COUNT ?? 5000);
/** Distinct photos generated; the rest are copies (decoding costs the same, generating does not). */
const DISTINCT_LARGE = 100;
export const CACHE = path.join(os.tmpdir(), 'rws-bench-folder');

export async function ensureFolder(name: string, count: number, width: number, height: number, distinct: number): Promise<string> {
  const dir = path.join(CACHE, `${name}-${count}`);
  const done = path.join(dir, '.complete');
  if (existsSync(done)) return dir;
  await rm(dir, { recursive: true, force: true });
  for (let i = 0; i < count; i++) {
    const sub = path.join(dir, `part ${String(Math.floor(i / 1000)).padStart(2, '0')}`);
    if (i % 1000 === 0) await mkdir(sub, { recursive: true });
    const file = path.join(sub, `img ${String(i).padStart(5, '0')}.jpg`);
    if (i < distinct) await testImage(i, width, height).jpeg({ quality: 90 }).toFile(file);
    else await copyFile(path.join(dir, 'part 00', `img ${String(i % distinct).padStart(5, '0')}.jpg`), file);
  }
  await writeFile(done, `${count}\n`);
  return dir;
}

/** The default pack's model when it is there, else a model of the same size from the test fixtures. */
async function benchModel(): Promise<{ modelPath: string; spec: InputSpec; labels: string[]; kind: 'logits' | 'probabilities'; note: string }> {
  if (existsSync(path.join(defaultPackDir(), 'pack.json'))) {
    const pack = await loadPack(defaultPackDir());
    return { modelPath: pack.modelPath, spec: pack.manifest.input, labels: pack.manifest.labels, kind: pack.manifest.output.kind, note: `pack ${pack.manifest.id}` };
  }
  const fixture = smallResNet();
  const modelPath = path.join(CACHE, 'small-resnet.onnx');
  await mkdir(CACHE, { recursive: true });
  await writeFile(modelPath, fixture.bytes);
  const spec: InputSpec = { name: fixture.input.name, layout: 'NCHW', width: 28, height: 28, channels: 1, colorSpace: 'grey', range: [0, 1], mean: [0.286], std: [0.353], resize: 'fill' };
  return { modelPath, spec, labels: Array.from({ length: fixture.classes }, (_, i) => `class ${i}`), kind: 'logits', note: 'smallResNet fixture (175k params; default pack absent)' };
}

const mb = () => process.memoryUsage().rss / 1024 / 1024;

async function measure(label: string, dir: string, classifier: Classifier): Promise<BenchRow[]> {
  const spec = classifier.inputSpec;
  const batch = chooseBatch(classifier.device, spec, classifier.maxBatch);
  const decoders = defaultDecoders(batch);
  const { files } = await walkInputs([dir]);
  const n = files.length;

  // Decode alone: the pipeline's decoder scheduling, without inference.
  const decodeOnly = async (list: typeof files) => {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: decoders }, async () => {
      while (next < list.length) await decodeImage(list[next++]!.path, spec);
    }));
    return list.length / ((performance.now() - t0) / 1000);
  };
  // Inference alone: the same batches of already-decoded tensors, transferred as the pipeline does.
  const per = spec.channels * spec.width * spec.height;
  const sample = await decodeImage(files[0]!.path, spec);
  const inferOnly = async (count: number) => {
    const t0 = performance.now();
    for (let done = 0; done < count; done += batch) {
      const m = Math.min(batch, count - done);
      const x = new Float32Array(m * per);
      for (let i = 0; i < m; i++) x.set(sample, i * per);
      await classifier.run(x, [m, spec.channels, spec.height, spec.width]);
    }
    return count / ((performance.now() - t0) / 1000);
  };

  const pipeline = async (rss?: Record<number, number>) => {
    const journal = path.join(CACHE, `${label}.journal.jsonl`);
    await rm(journal, { force: true });
    const t0 = performance.now();
    const summary = await runFolder({
      inputs: [dir],
      classifier,
      pack: 'bench',
      model: 'bench',
      mix: {},
      journal,
      onProgress: (p) => {
        if (rss) for (const mark of [1000, 5000]) if (p.done >= mark && rss[mark] === undefined) rss[mark] = mb();
      },
    });
    const rate = summary.results.length / ((performance.now() - t0) / 1000);
    await rm(journal, { force: true });
    if (summary.failed.length) throw new Error(`bench folder ${dir}: ${summary.failed.length} files failed, e.g. ${summary.failed[0]!.message}`);
    return rate;
  };

  await decodeOnly(files.slice(0, 300));
  await inferOnly(300);
  // Two rounds, each rate the best of its two: the three are measured under the same conditions,
  // and a burst of other work on a shared machine hurts one round, not the ratio.
  const rss: Record<number, number> = {};
  const rssBefore = mb();
  let decodeRate = 0;
  let inferRate = 0;
  let pipeRate = 0;
  for (let round = 0; round < 2; round++) {
    decodeRate = Math.max(decodeRate, await decodeOnly(files));
    inferRate = Math.max(inferRate, await inferOnly(n));
    pipeRate = Math.max(pipeRate, await pipeline(round === 0 ? rss : undefined));
  }
  rss[5000] ??= mb();

  const limit = 1 / (1 / decodeRate + 1 / inferRate);
  return [
    { name: `${label}: pipeline`, value: pipeRate, unit: 'img/s', note: `${n} images, batch ${batch}, ${decoders} decodes in flight, journal on; best of 2 rounds` },
    { name: `${label}: decode only`, value: decodeRate, unit: 'img/s' },
    { name: `${label}: inference only`, value: inferRate, unit: 'img/s', note: classifier.device },
    { name: `${label}: pipeline / 1/(1/decode + 1/infer)`, value: pipeRate / limit, unit: '×', target: '≥ 0.95' },
    { name: `${label}: pipeline / min(decode, infer)`, value: pipeRate / Math.min(decodeRate, inferRate), unit: '×', target: '≥ 0.90' },
    { name: `${label}: RSS before the run`, value: rssBefore, unit: 'MB', note: 'worker, model and sharp loaded' },
    { name: `${label}: RSS at 1k images`, value: rss[1000] ?? NaN, unit: 'MB' },
    { name: `${label}: RSS at 5k images`, value: rss[5000], unit: 'MB', target: 'flat (≈ 1k)' },
  ];
}

/** The folder-run section of `npm run bench`. */
export async function benchFolder(): Promise<BenchSection> {
  const model = await benchModel();
  const small = await ensureFolder('small-28x28', COUNT, 28, 28, COUNT);
  const large = await ensureFolder('photo-1920x1080', COUNT, 1920, 1080, DISTINCT_LARGE);
  const patcher = await RemotePatcher.create(model.modelPath, new Map(), { device: 'cpu' });
  const classifier: Classifier = {
    inputSpec: model.spec,
    labels: model.labels,
    outputKind: model.kind,
    device: patcher.device,
    maxBatch: 4096,
    run: (x, d) => patcher.run(x, d, { transfer: true }),
    dispose: () => patcher.dispose(),
  };
  try {
    const rows = [...(await measure('28×28 JPEG', small, classifier)), ...(await measure('1920×1080 JPEG', large, classifier))];
    rows.unshift({ name: 'model', value: (await stat(model.modelPath)).size / 1024, unit: 'KiB', note: model.note });
    return { title: 'Folder runs (decode + batched inference pipeline)', rows };
  } finally {
    await classifier.dispose();
  }
}

// Run alone: `node dist/test/bench/folder.js`.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const s = await benchFolder();
  for (const r of s.rows) console.log(`${r.name}: ${Number.isFinite(r.value) ? r.value.toFixed(3) : r.value} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}

