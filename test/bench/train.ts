// Training backend benchmark: one SGD step (forward, backward to the first K layers, update) at
// batch 32 through the ONNX→torch converter, per model family (the tiny torch exports, 32×32), on
// a ResNet-18-sized model at 224×224 and on the default pack's 28×28 model; beside it what the
// alternatives cost on the same ResNet-18: the same network written natively in torch (the
// converter's overhead), and one onnxruntime forward pass (a backward graph built as ONNX would
// cost a forward and two backward passes of about that size each).
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadOnnx, parseOnnx, type OnnxModel } from '../../main/engine/onnx/model.js';
import { defaultPackDir } from '../../main/engine/packs/pack.js';
import { pythonCommand, TorchGraph } from '../../main/engine/train/torch-graph.js';
import { defaultEpochs } from '../../main/engine/train/train-signature.js';
import { CLASSIFIERS, familyFiles } from '../fixtures/families.js';
import { resnet18Like, seededRandom } from '../fixtures/models.js';
import { median, type BenchRow, type BenchSection } from './section.js';

const BATCH = 32;
/** Threads for the larger models (`RWS_BENCH_THREADS`, default all cores); on a loaded machine 1 gives steadier figures. */
const THREADS = Number(process.env.RWS_BENCH_THREADS) || os.availableParallelism();

function log(text: string): void {
  process.stderr.write(`bench train: ${text}\n`);
}

/** Steps `rws train` takes by default on 2,000 images (200 of them held back) in batches of `batch`. */
function defaultSteps(batch: number): number {
  return defaultEpochs('fog', 1800, batch) * Math.ceil(1800 / batch);
}

function threads(n: number): string {
  return `${n} thread${n === 1 ? '' : 's'}`;
}

function input(dims: number[], seed: number): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand());
}

/** Median seconds of `steps` SGD steps after one warm-up, the first `k` layers trained. */
async function stepSeconds(g: TorchGraph, model: OnnxModel, k: number, dims: number[], steps: number, threads: number): Promise<number> {
  await g.load(model, { trainable: model.layers().slice(0, k).flatMap((l) => l.tensors.map((t) => t.name)), threads, lr: 0.01 });
  const x = input(dims, 1);
  const labels = Array.from({ length: dims[0]! }, (_, i) => i % 10);
  await g.step(x, dims, { labels });
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push((await g.step(x, dims, { labels })).seconds);
  return median(times);
}

/** The same ResNet-18 shape in plain torch (convs with bias, BatchNorm folded as in resnet18Like), first 5 convs trained. */
const NATIVE_RESNET18 = `
import time, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
torch.set_num_threads(${THREADS})
class Block(nn.Module):
    def __init__(s, cin, cout, stride):
        super().__init__()
        s.c1 = nn.Conv2d(cin, cout, 3, stride, 1); s.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        s.down = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None
    def forward(s, x):
        y = s.c2(F.relu(s.c1(x)))
        return F.relu(y + (s.down(x) if s.down is not None else x))
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.conv1 = nn.Conv2d(3, 64, 7, 2, 3)
        blocks, cin = [], 64
        for i, c in enumerate([64, 128, 256, 512]):
            for b in range(2):
                blocks.append(Block(cin, c, 2 if b == 0 and i > 0 else 1)); cin = c
        s.blocks = nn.Sequential(*blocks); s.fc = nn.Linear(512, 1000)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.conv1(x)), 3, 2, 1)
        return s.fc(torch.flatten(F.adaptive_avg_pool2d(s.blocks(x), 1), 1))
net = Net()
convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)][:5]
for p in net.parameters(): p.requires_grad_(False)
params = [p for m in convs for p in m.parameters()]
for p in params: p.requires_grad_(True)
opt = torch.optim.SGD(params, lr=0.01)
x = torch.rand(${BATCH}, 3, 224, 224); y = torch.arange(${BATCH}) % 10
times = []
for i in range(4):
    t0 = time.perf_counter(); opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step(); times.append(time.perf_counter() - t0)
times = sorted(times[1:]); print(times[len(times) // 2])
`;

export async function benchTrain(): Promise<BenchSection> {
  const rows: BenchRow[] = [];
  const families = familyFiles(CLASSIFIERS).filter((f) => f.form === 'unfolded' && f.batch === 'dynamic');
  const first = await loadOnnx(families[0]!.file);
  const g = await TorchGraph.open(first, { threads: THREADS });
  try {
    for (const f of families) {
      // One thread: on a busy machine torch's thread pool waits for its other threads far longer than these small layers take.
      const s = await stepSeconds(g, await loadOnnx(f.file), 3, [BATCH, 3, 32, 32], 7, 1);
      log(`${f.family}: ${(s * 1000).toFixed(1)} ms`);
      rows.push({ name: `${f.family} (tiny torch export, BatchNorm kept), 32×32, K = 3`, value: s * 1000, unit: 'ms/step', note: `batch ${BATCH}, converter, 1 thread` });
    }
    const pack = await loadOnnx(path.join(defaultPackDir(), 'model.onnx'));
    const packStep = await stepSeconds(g, pack, 5, [BATCH, 1, 28, 28], 7, THREADS);
    rows.push({ name: `default pack model, 28×28, K = 5, ${threads(THREADS)}`, value: packStep * 1000, unit: 'ms/step', target: '2,000 images ≤ 2 min', note: `batch ${BATCH}; ${((packStep * 2000) / BATCH).toFixed(1)} s per epoch of 2,000 images; rws train's default there is ${defaultSteps(128)} steps of 128` });
    const resnet = parseOnnx(resnet18Like().bytes, { file: 'resnet18.onnx' });
    const resnetStep = await stepSeconds(g, resnet, 5, [BATCH, 3, 224, 224], 3, THREADS);
    log(`resnet18: ${resnetStep.toFixed(2)} s`);
    rows.push({ name: `ResNet-18-sized, 224×224, K = 5, converter, ${threads(THREADS)}`, value: resnetStep, unit: 's/step', target: '2,000 images ≤ 20 min', note: `batch ${BATCH}; ${((resnetStep * 2000) / BATCH / 60).toFixed(1)} min per epoch of 2,000 images; rws train's default there, ${defaultSteps(BATCH)} steps: ${((resnetStep * defaultSteps(BATCH)) / 60).toFixed(1)} min` });
  } finally {
    await g.close();
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rws-bench-train-'));
  const script = path.join(dir, 'native.py');
  writeFileSync(script, NATIVE_RESNET18);
  const native = spawnSync(pythonCommand(), [script], { encoding: 'utf8' });
  if (native.status === 0) {
    rows.push({ name: `ResNet-18, 224×224, K = 5, written natively in torch, ${threads(THREADS)}`, value: Number(native.stdout.trim()), unit: 's/step', note: 'the converter\'s overhead is the difference' });
  } else log(`native torch failed: ${native.stderr}`);
  const session = await ort.InferenceSession.create(resnet18Like().bytes, { intraOpNumThreads: THREADS, graphOptimizationLevel: 'all' });
  const dims = [BATCH, 3, 224, 224];
  const feeds = { input: new ort.Tensor('float32', input(dims, 2), dims) };
  await session.run(feeds);
  const forward: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    forward.push((performance.now() - t0) / 1000);
  }
  await session.release();
  rows.push({ name: `ResNet-18, 224×224: one onnxruntime forward pass, ${threads(THREADS)}`, value: median(forward), unit: 's', note: 'an ONNX-built backward costs about 3× this per step, at best' });
  return { title: 'Training backend (ONNX graph → torch, one SGD step)', rows };
}
