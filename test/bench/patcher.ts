// Patcher benchmark: how long a patch switch takes until the next inference uses it, against
// re-creating the whole model's session, and what a patchable model costs per inference against
// the plain model, for every strategy: on a default-pack-sized model (section `patcher`) and on
// models of the families users bring, made here with random weights (section `families`:
// MobileNetV3-small, EfficientNet-B0, ResNet-18 and ResNet-50 sized). Every figure is a ratio or
// a time measured in this run, plain and patched interleaved.
// Runs alone with `node dist/test/bench/patcher.js [families]` after `npm run build`, or via `npm run bench`.
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { parseOnnx, type OnnxModel } from '../../main/engine/onnx/model.js';
import { Patcher, type PatchStrategy } from '../../main/engine/runtime/patcher.js';
import { createSession } from '../../main/engine/runtime/session.js';
import { efficientNetB0Like, mobilenetV3SmallLike, resnet18Like, resnet50Like, seededRandom, smallResNet, type FixtureModel } from '../fixtures/models.js';
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

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Ratio {
  plain: number;
  patched: number;
  /** Median of the per-pair ratios patched ÷ plain: a pair runs back to back, so both see the same load. */
  ratio: number;
  /** The same in process CPU time (all onnxruntime threads): steadier than wall time on a shared machine. */
  ratioCpu: number;
}

/**
 * Per-inference time of the plain model and of the patcher, in pairs run back to back, the order
 * alternating from pair to pair (ABBA) so neither always runs on the caches the other warmed.
 */
async function inferenceRatio(plain: ort.InferenceSession, patcher: Patcher, fixture: FixtureModel, batch: number, runs: number): Promise<Ratio> {
  const x = randomInput(fixture, batch);
  const feeds = { [fixture.input.name]: new ort.Tensor('float32', x.data, x.dims) };
  await plain.run(feeds);
  await patcher.run(x.data, x.dims);
  const a: number[] = [];
  const b: number[] = [];
  const ratios: number[] = [];
  const ratiosCpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const runA = () => both(() => plain.run(feeds));
    const runB = () => both(() => patcher.run(x.data, x.dims));
    let ta: [number, number];
    let tb: [number, number];
    if (i % 2 === 0) {
      ta = await runA();
      tb = await runB();
    } else {
      tb = await runB();
      ta = await runA();
    }
    a.push(ta[0]);
    b.push(tb[0]);
    ratios.push(tb[0] / ta[0]);
    ratiosCpu.push(tb[1] / ta[1]);
  }
  return { plain: median(a), patched: median(b), ratio: median(ratios), ratioCpu: median(ratiosCpu) };
}

interface SwitchTimes {
  /** setMix, plus what the next inference costs over a steady one of the same mix (not below 0). */
  total: number;
  /** The same in process CPU time. */
  totalCpu: number;
  setMix: number;
  /** Median extra of the next inference over the steady one, wall and CPU (noise: either may be below 0). */
  extra: number;
  extraCpu: number;
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
  const extras: number[] = [];
  const extrasCpu: number[] = [];
  const sets: number[] = [];
  const setsCpu: number[] = [];
  const rebuilds: number[] = [];
  const rebuildsCpu: number[] = [];
  for (let i = 0; i < SWITCHES; i++) {
    const [set, setCpu] = await both(() => patcher.setMix({ fog: 0.6 + i / 100 }));
    const [first, firstCpu] = await both(() => patcher.run(x.data, x.dims));
    const [steady, steadyCpu] = await both(() => patcher.run(x.data, x.dims));
    sets.push(set);
    setsCpu.push(setCpu);
    extras.push(first - steady);
    extrasCpu.push(firstCpu - steadyCpu);
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
  // The extra is measured against a steady run of the same length: under load its noise can be
  // larger than a switch (a write of well under a millisecond), so it counts only when positive.
  const extra = median(extras);
  const extraCpu = median(extrasCpu);
  const out: SwitchTimes = { total: median(sets) + Math.max(0, extra), totalCpu: median(setsCpu) + Math.max(0, extraCpu), setMix: median(sets), extra, extraCpu };
  if (bytes) {
    out.rebuild = median(rebuilds);
    out.rebuildCpu = median(rebuildsCpu);
  }
  return out;
}

interface ModelPlan {
  label: string;
  fixture: FixtureModel;
  /** Batches measured for the strategy `auto` takes, with the runs (interleaved pairs) for each; the others get the first. */
  batches: { batch: number; runs: number }[];
  /** Issue 17's targets for this model: patched ÷ plain and the switch. */
  ratioTarget: string;
  switchTarget: string;
  /** Re-creating the whole session is the reference for a switch (≥ 10× for ResNet-18). */
  rebuildTarget?: string;
}

const STRATEGIES: PatchStrategy[] = ['inplace', 'head', 'session', 'inputs'];

async function benchModel(plan: ModelPlan, rows: BenchRow[]): Promise<void> {
  const { fixture, label } = plan;
  const model = parseOnnx(fixture.bytes, { file: `${label}.onnx` });
  const signatures = new Map([['fog', shallowSignature(model, 'fog', 1)]]);
  const mb = fixture.bytes.length / 1e6;
  log(`${label}: ${fixture.params} params (${mb.toFixed(1)} MB)`);

  const { session: plain } = await createSession(fixture.bytes, { device: 'cpu' });
  try {
    let t0 = performance.now();
    const auto = await Patcher.create(model, signatures, { device: 'cpu' });
    const autoLoad = performance.now() - t0;
    const chosen = auto.strategy;
    rows.push({ name: `${label}: auto chooses`, value: autoLoad, unit: 'ms', note: `${chosen} (load time shown): ${auto.strategyReason}` });
    await auto.dispose();
    let rebuild = 0;
    let rebuildCpu = 0;
    const order: PatchStrategy[] = [chosen, ...STRATEGIES.filter((s) => s !== chosen)];
    for (const strategy of order) {
      const isAuto = strategy === chosen;
      const tag = `${label} [${strategy}${isAuto ? ', auto' : ''}]`;
      t0 = performance.now();
      const patcher = await Patcher.create(model, signatures, { device: 'cpu', strategy });
      const load = performance.now() - t0;
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
          target: isAuto ? plan.switchTarget : undefined,
          note: `median of ${SWITCHES}, new α each time: setMix ${sw.setMix.toFixed(2)} ms + the next inference's extra over a steady one ${sw.extra.toFixed(2)} ms (CPU ${sw.extraCpu.toFixed(2)} ms; counted when > 0); CPU time ${sw.totalCpu.toFixed(2)} ms; Patcher.create ${load.toFixed(0)} ms`,
        });
        rows.push({
          name: `${tag}: rebuild / switch`,
          value: rebuild / sw.total,
          unit: '×',
          target: isAuto ? plan.rebuildTarget : undefined,
          note: `in CPU time ${(rebuildCpu / sw.totalCpu).toFixed(1)}×`,
        });
        log(`${tag}: switch ${sw.total.toFixed(2)} ms, rebuild ${rebuild.toFixed(2)} ms`);
        await patcher.setMix({ fog: 0.8 });
        for (const { batch, runs } of isAuto ? plan.batches : plan.batches.slice(0, 1)) {
          const r = await inferenceRatio(plain, patcher, fixture, batch, runs);
          rows.push({
            name: `${tag}: patched / plain inference, batch ${batch}`,
            value: r.ratio,
            unit: '×',
            target: isAuto ? plan.ratioTarget : undefined,
            note: `median of ${runs} back-to-back pairs (${r.patched.toFixed(2)} vs ${r.plain.toFixed(2)} ms); CPU time ${r.ratioCpu.toFixed(3)}×`,
          });
          log(`${tag}: batch ${batch} ratio ${r.ratio.toFixed(3)} (CPU ${r.ratioCpu.toFixed(3)})`);
        }
      } finally {
        await patcher.dispose();
      }
    }
  } finally {
    await plain.release();
  }
}

/** How busy the machine was: wall times mean little on a shared machine, CPU times hold up better. */
function loadRow(): BenchRow {
  return { name: 'machine load average (1 min) at start', value: os.loadavg()[0]!, unit: '', note: `${os.cpus().length} cores; above the core count, trust the CPU-time figures in the notes` };
}

/** Patch switch vs session rebuild, and patched vs plain inference, on a default-pack-sized model. */
export async function benchPatcher(): Promise<BenchSection> {
  const rows: BenchRow[] = [loadRow()];
  await benchModel({ label: 'default-pack size (smallResNet)', fixture: smallResNet(), batches: [{ batch: 1, runs: 200 }, { batch: 32, runs: 40 }], ratioTarget: '≤ 1.05×', switchTarget: '≤ 10 ms' }, rows);
  return { title: 'Patcher (CPU)', rows };
}

/** The same on the model families users bring: MobileNetV3-small, EfficientNet-B0, ResNet-18 and ResNet-50 sized, random weights. */
export async function benchFamilies(): Promise<BenchSection> {
  const rows: BenchRow[] = [loadRow()];
  const plans: (() => ModelPlan)[] = [
    () => ({ label: 'MobileNetV3-small size', fixture: mobilenetV3SmallLike(), batches: [{ batch: 8, runs: 40 }, { batch: 1, runs: 100 }], ratioTarget: '≤ 1.02×', switchTarget: '≤ 5 ms' }),
    () => ({ label: 'EfficientNet-B0 size', fixture: efficientNetB0Like(), batches: [{ batch: 1, runs: 60 }, { batch: 8, runs: 16 }], ratioTarget: '≤ 1.01×', switchTarget: '≤ 10 ms' }),
    () => ({ label: 'ResNet-18 size', fixture: resnet18Like(), batches: [{ batch: 1, runs: 30 }, { batch: 32, runs: 6 }], ratioTarget: '≤ 1.01×', switchTarget: '≤ 2 ms', rebuildTarget: '≥ 10×' }),
    () => ({ label: 'ResNet-50 size', fixture: resnet50Like(), batches: [{ batch: 1, runs: 20 }, { batch: 8, runs: 6 }], ratioTarget: '≤ 1.01×', switchTarget: '≤ 10 ms' }),
  ];
  for (const plan of plans) await benchModel(plan(), rows);
  return { title: 'Model families (CPU): every strategy', rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const section = process.argv[2] === 'families' ? await benchFamilies() : await benchPatcher();
  for (const r of section.rows) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.target ? ` (target ${r.target})` : ''}${r.note ? ` — ${r.note}` : ''}`);
}
