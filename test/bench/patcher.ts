// Patcher benchmark: how long a patch switch takes until the next inference uses it, against
// re-creating the whole model's session, and what a patchable model costs per inference against
// the plain model; on a default-pack-sized model and on a ResNet-18-sized one, for each strategy.
// Runs alone with `node dist/test/bench/patcher.js` after `npm run build`, or via `npm run bench`.
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { parseOnnx, type OnnxModel } from '../../main/engine/onnx/model.js';
import { Patcher, type PatchStrategy } from '../../main/engine/runtime/patcher.js';
import { createSession } from '../../main/engine/runtime/session.js';
import { resnet18Like, seededRandom, smallResNet, type FixtureModel } from '../fixtures/models.js';
import { shallowSignature } from '../fixtures/signatures.js';
import { median, type BenchRow, type BenchSection } from './section.js';

const SWITCHES = 24;

function log(text: string): void {
  process.stderr.write(`bench patcher: ${text}\n`);
}

function randomInput(fixture: FixtureModel, batch: number): { data: Float32Array; dims: number[] } {
  const dims = [batch, ...fixture.input.shape.slice(1)];
  const rand = seededRandom(batch);
  return { data: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand()), dims };
}

async function time(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Ratio {
  plain: number;
  patched: number;
  /** Process CPU time (all onnxruntime threads) per inference: steadier than wall time on a shared machine. */
  plainCpu: number;
  patchedCpu: number;
}

/** Median per-inference time of the plain model and of the patcher, runs interleaved so drift hits both. */
async function inferenceRatio(plain: ort.InferenceSession, patcher: Patcher, fixture: FixtureModel, batch: number, runs: number): Promise<Ratio> {
  const x = randomInput(fixture, batch);
  const feeds = { [fixture.input.name]: new ort.Tensor('float32', x.data, x.dims) };
  await plain.run(feeds);
  await patcher.run(x.data, x.dims);
  const a: number[] = [];
  const b: number[] = [];
  const ac: number[] = [];
  const bc: number[] = [];
  for (let i = 0; i < runs; i++) {
    let c = cpuMs();
    a.push(await time(() => plain.run(feeds)));
    ac.push(cpuMs() - c);
    c = cpuMs();
    b.push(await time(() => patcher.run(x.data, x.dims)));
    bc.push(cpuMs() - c);
  }
  return { plain: median(a), patched: median(b), plainCpu: median(ac), patchedCpu: median(bc) };
}

interface SwitchTimes {
  /** setMix until the next inference has used it, minus a steady inference of the same mix. */
  total: number;
  /** The same in process CPU time. */
  totalCpu: number;
  setMix: number;
  rebuild?: number;
  rebuildCpu?: number;
}

/** Wall and CPU time of `work`. */
async function both(work: () => Promise<unknown>): Promise<[number, number]> {
  const c = cpuMs();
  const t = performance.now();
  await work();
  return [performance.now() - t, cpuMs() - c];
}

/**
 * A patch switch as the user feels it: a mix with a new α each time, until an inference (batch 1)
 * has used it, minus the steady inference run right after it (paired, so load drift cancels).
 * With `bytes`, each switch alternates with re-creating the whole model's session until its first
 * inference has run, minus that session's second inference, so both see the same machine load.
 */
async function switchTimes(patcher: Patcher, fixture: FixtureModel, bytes?: Uint8Array): Promise<SwitchTimes> {
  const x = randomInput(fixture, 1);
  const feeds = { [fixture.input.name]: new ort.Tensor('float32', x.data, x.dims) };
  await patcher.setMix({ fog: 0.5 });
  for (let i = 0; i < 3; i++) await patcher.run(x.data, x.dims);
  const totals: number[] = [];
  const totalsCpu: number[] = [];
  const sets: number[] = [];
  const rebuilds: number[] = [];
  const rebuildsCpu: number[] = [];
  for (let i = 0; i < SWITCHES; i++) {
    const [set, setCpu] = await both(() => patcher.setMix({ fog: 0.6 + i / 100 }));
    const [first, firstCpu] = await both(() => patcher.run(x.data, x.dims));
    const [steady, steadyCpu] = await both(() => patcher.run(x.data, x.dims));
    sets.push(set);
    totals.push(set + first - steady);
    totalsCpu.push(setCpu + firstCpu - steadyCpu);
    if (bytes) {
      let session: ort.InferenceSession | undefined;
      const [create, createCpu] = await both(async () => {
        session = (await createSession(bytes, { device: 'cpu' })).session;
        await session.run(feeds);
      });
      const [again, againCpu] = await both(() => session!.run(feeds));
      rebuilds.push(create - again);
      rebuildsCpu.push(createCpu - againCpu);
      await session!.release();
    }
  }
  const out: SwitchTimes = { total: median(totals), totalCpu: median(totalsCpu), setMix: median(sets) };
  if (bytes) {
    out.rebuild = median(rebuilds);
    out.rebuildCpu = median(rebuildsCpu);
  }
  return out;
}

interface ModelPlan {
  label: string;
  fixture: FixtureModel;
  /** The ResNet-18 stand-in of the bench (it has the tighter batch-1 target). */
  large: boolean;
  batch1Runs: number;
  batch32Runs: number;
}

async function benchModel(plan: ModelPlan, rows: BenchRow[]): Promise<void> {
  const { fixture, label } = plan;
  const model = parseOnnx(fixture.bytes, { file: `${label}.onnx` });
  const signatures = new Map([['fog', shallowSignature(model, 'fog', 1)]]);
  const mb = fixture.bytes.length / 1e6;
  log(`${label}: ${fixture.params} params (${mb.toFixed(1)} MB)`);

  const { session: plain } = await createSession(fixture.bytes, { device: 'cpu' });
  try {
    const auto = await Patcher.create(model, signatures, { device: 'cpu' });
    const chosen = auto.strategy;
    await auto.dispose();
    let rebuild = 0;
    let rebuildCpu = 0;
    const order: PatchStrategy[] = [chosen, ...(['head', 'session', 'inputs'] as const).filter((s) => s !== chosen)];
    for (const strategy of order) {
      const isAuto = strategy === chosen;
      const tag = `${label} [${strategy}${isAuto ? ', auto' : ''}]`;
      const patcher = await Patcher.create(model, signatures, { device: 'cpu', strategy });
      try {
        const sw = await switchTimes(patcher, fixture, isAuto ? fixture.bytes : undefined);
        if (sw.rebuild !== undefined) {
          rebuild = sw.rebuild;
          rebuildCpu = sw.rebuildCpu!;
          rows.push({
            name: `${label}: re-create the whole session`,
            value: rebuild,
            unit: 'ms',
            note: `median of ${SWITCHES}, until its first inference has run, alternated with the switches below; CPU time ${rebuildCpu.toFixed(2)} ms`,
          });
        }
        rows.push({
          name: `${tag}: patch switch`,
          value: sw.total,
          unit: 'ms',
          target: isAuto ? '≤ 10 ms' : undefined,
          note: `median of ${SWITCHES}, new α each time, until the next inference used it; setMix alone ${sw.setMix.toFixed(2)} ms; CPU time ${sw.totalCpu.toFixed(2)} ms`,
        });
        rows.push({
          name: `${tag}: rebuild / switch`,
          value: rebuild / sw.total,
          unit: '×',
          target: plan.large && isAuto ? '≥ 10×' : undefined,
          note: `in CPU time ${(rebuildCpu / sw.totalCpu).toFixed(1)}×`,
        });
        log(`${tag}: switch ${sw.total.toFixed(2)} ms, rebuild ${rebuild.toFixed(2)} ms`);
        await patcher.setMix({ fog: 0.8 });
        const batches = isAuto || !plan.large ? [1, 32] : [1];
        for (const batch of batches) {
          const runs = batch === 1 ? plan.batch1Runs : plan.batch32Runs;
          const r = await inferenceRatio(plain, patcher, fixture, batch, runs);
          const target = !isAuto ? undefined : batch === 32 || plan.large ? '≤ 1.05×' : '≤ 1.10×';
          rows.push({
            name: `${tag}: patched / plain inference, batch ${batch}`,
            value: r.patched / r.plain,
            unit: '×',
            target,
            note: `${r.patched.toFixed(2)} vs ${r.plain.toFixed(2)} ms wall, median of ${runs}; CPU time ${(r.patchedCpu / r.plainCpu).toFixed(3)}×`,
          });
          log(`${tag}: batch ${batch} ratio ${(r.patched / r.plain).toFixed(3)} (CPU ${(r.patchedCpu / r.plainCpu).toFixed(3)})`);
        }
      } finally {
        await patcher.dispose();
      }
    }
  } finally {
    await plain.release();
  }
}

/** Patch switch vs session rebuild, and patched vs plain inference, on both model sizes. */
export async function benchPatcher(): Promise<BenchSection> {
  const rows: BenchRow[] = [];
  // Wall times mean little on a busy machine; the load says how busy it was (CPU times hold up better).
  rows.push({ name: 'machine load average (1 min) at start', value: os.loadavg()[0]!, unit: '', note: `${os.cpus().length} cores; above the core count, trust the CPU-time figures in the notes` });
  await benchModel({ label: 'default-pack size (smallResNet)', fixture: smallResNet(), large: false, batch1Runs: 200, batch32Runs: 40 }, rows);
  await benchModel({ label: 'ResNet-18 size', fixture: resnet18Like(), large: true, batch1Runs: 30, batch32Runs: 6 }, rows);
  return { title: 'Patcher (CPU)', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const section = await benchPatcher();
  for (const r of section.rows) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
