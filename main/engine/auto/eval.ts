// Measuring `--mix auto` the way issue 6 asks: on labelled images with each condition applied,
// accuracy of auto against the oracle (the condition's own mix, chosen by hand) and the clean model;
// how often auto picks the right condition (and the clean model on clean images); on a shuffled
// stream whose condition changes every few hundred frames, accuracy and frames until auto settles;
// and auto's own cost per frame. `rws eval --mix auto` prints this report.
//
//   node dist/main/engine/auto/eval.js [--pack DIR] [--images N] [--severity 3] [--segment 200] [--json FILE]
import { argmaxRow, batchDims, unitToBytes } from '../../core/tensors.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mixKey } from '../../core/mix.js';
import { CONDITIONS, corrupt, type Image, type Severity } from '../../core/corruptions/index.js';
import { createRandom, mixSeed } from '../../core/random.js';
import type { ConditionMix } from '../../core/signature.js';
import { AutoMix, meanEntropy, type AutoChoice, type MixRunner } from './mix.js';
import { readFashionImages } from './train.js';
import { fashionMnistDir } from '../io/idx.js';
import { toTensor } from '../io/image-decode.js';
import { defaultPackDir, loadPack, type PackManifest } from '../packs/pack.js';
import { loadSignatures, Patcher } from '../runtime/patcher.js';
import { loadOnnx } from '../onnx/model.js';

/** One condition at one severity: accuracies of the three ways to choose the mix. */
export interface AutoConditionRow {
  condition: string;
  severity: number;
  images: number;
  clean: number;
  oracle: number;
  /** Auto choosing per image on its own. */
  autoFile: number;
  /** Auto as a stream over these images in order, from a fresh start on the clean model. */
  autoStream: number;
  /** Lowest mean prediction entropy over the candidates, chosen per batch of `batch` images. */
  entropyBatch: number;
  /** The classifier's two most likely conditions for the batch (and clean), entropy deciding. */
  bothBatch: number;
  /** Share of images whose own choice was the right condition (`clean` on clean images). */
  picked: number;
  /** Share of stream frames on the right condition. */
  streamPicked: number;
}

/** The shuffled-stream experiment. */
export interface AutoStreamReport {
  frames: number;
  segment: number;
  changes: number;
  clean: number;
  oracle: number;
  auto: number;
  /** Frames from each change until auto is on the new condition (a change it never reached counts the whole segment). */
  settleFrames: number[];
  settleMedian: number;
  settleMax: number;
  /** Switches auto made, against the changes there were. */
  switches: number;
}

export interface AutoEvalReport {
  pack: string;
  severity: number;
  rows: AutoConditionRow[];
  stream: AutoStreamReport;
  /** Auto's own work per frame (image features, classifier, tracker), median microseconds. */
  costMicros: number;
  seconds: number;
}

/** Labelled images, plus the runner and the pack's auto, to evaluate on. */
export interface AutoEvalInput {
  runner: MixRunner;
  manifest: PackManifest;
  auto: AutoMix;
  images: Image[];
  labels: ArrayLike<number>;
  severity?: Severity;
  /** Frames per condition in the stream (default 200). */
  segment?: number;
  /** Number of conditions the stream passes through (default 12). */
  segments?: number;
  seed?: number;
  batch?: number;
}

/** Logits of images under mixes, each (image set, mix) run once. */
class LogitCache {
  private readonly cache = new Map<string, Float32Array>();
  constructor(
    private readonly runner: MixRunner,
    private readonly manifest: PackManifest,
    private readonly batch: number,
  ) {}

  async get(setKey: string, images: Image[], mix: ConditionMix): Promise<Float32Array> {
    const key = `${setKey}|${mixKey(mix)}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const spec = this.manifest.input;
    const per = spec.width * spec.height * spec.channels;
    const classes = this.manifest.labels.length;
    const out = new Float32Array(images.length * classes);
    await this.runner.setMix(mix);
    for (let start = 0; start < images.length; start += this.batch) {
      const part = images.slice(start, start + this.batch);
      const input = new Float32Array(part.length * per);
      part.forEach((im, i) => input.set(toTensor(unitToBytes(im.data), im.channels, spec), i * per));
      const dims = batchDims(spec, part.length);
      out.set(await this.runner.run(input, dims), start * classes);
    }
    this.cache.set(key, out);
    return out;
  }
}

/** Corruptions the pack can be tested on: its candidates whose id is one of the core's conditions. */
function testable(auto: AutoMix): string[] {
  const known = new Set(CONDITIONS.map((c) => c.id));
  return auto.candidates.map((c) => c.id).filter((id) => known.has(id));
}

/** Runs the whole evaluation; see the top of this file. */
export async function evaluateAuto(input: AutoEvalInput): Promise<AutoEvalReport> {
  const t0 = performance.now();
  const { runner, manifest, auto, images, labels } = input;
  const severity = input.severity ?? 3;
  const classes = manifest.labels.length;
  const cache = new LogitCache(runner, manifest, input.batch ?? 64);
  const ids = testable(auto);
  const oracleMix = (id: string): ConditionMix => auto.mixFor(id, severity);

  // Accuracy of a list of per-image mixes over a set, each mix's logits computed once.
  const accuracyOf = async (setKey: string, set: Image[], mixes: ConditionMix[]): Promise<number> => {
    let right = 0;
    for (let i = 0; i < set.length; i++) {
      const logits = await cache.get(setKey, set, mixes[i]!);
      if (argmaxRow(logits, i, classes) === labels[i]) right++;
    }
    return right / set.length;
  };

  const rows: AutoConditionRow[] = [];
  const costs: number[] = [];
  for (const id of ['clean', ...ids]) {
    const set = id === 'clean' ? images : images.map((im, i) => corrupt(im, id, severity, mixSeed(101, i)));
    const files: AutoChoice[] = set.map((im) => auto.classify(im));
    auto.reset();
    const stream: AutoChoice[] = set.map((im) => {
      const c0 = performance.now();
      const c = auto.observe(im);
      costs.push(performance.now() - c0);
      return c;
    });
    const clean = await accuracyOf(id, set, set.map(() => ({})));
    // Entropy routes, per batch: every candidate's logits for the set, then a choice per batch.
    const batch = input.batch ?? 64;
    const byEntropy: ConditionMix[] = [];
    const byBoth: ConditionMix[] = [];
    for (let start = 0; start < set.length; start += batch) {
      const end = Math.min(set.length, start + batch);
      const ent = async (mix: ConditionMix) => meanEntropy((await cache.get(id, set, mix)).subarray(start * classes, end * classes), end - start);
      let best: [number, ConditionMix] = [await ent({}), {}];
      const scores = new Map<string, number>([['clean', best[0]]]);
      for (const cid of ids) {
        const h = await ent(oracleMix(cid));
        scores.set(cid, h);
        if (h < best[0]) best = [h, oracleMix(cid)];
      }
      const est = auto.estimate(set.slice(start, end));
      const top2 = [...est.conditions].sort((a, b) => b[1] - a[1]).slice(0, 2).map(([k]) => k);
      let both: [number, string] = [scores.get('clean')!, 'clean'];
      for (const cid of top2) if (scores.has(cid) && scores.get(cid)! < both[0]) both = [scores.get(cid)!, cid];
      for (let i = start; i < end; i++) {
        byEntropy.push(best[1]);
        byBoth.push(both[1] === 'clean' ? {} : oracleMix(both[1]));
      }
    }
    rows.push({
      condition: id,
      severity: id === 'clean' ? 0 : severity,
      images: set.length,
      clean,
      oracle: id === 'clean' ? clean : await accuracyOf(id, set, set.map(() => oracleMix(id))),
      autoFile: await accuracyOf(id, set, files.map((c) => c.mix)),
      autoStream: await accuracyOf(id, set, stream.map((c) => c.mix)),
      entropyBatch: await accuracyOf(id, set, byEntropy),
      bothBatch: await accuracyOf(id, set, byBoth),
      picked: files.filter((c) => c.id === id).length / set.length,
      streamPicked: stream.filter((c) => c.id === id).length / set.length,
    });
  }

  // The stream: segments of one condition each (clean among them), images shuffled, never the same condition twice in a row.
  const segment = input.segment ?? 200;
  const segments = input.segments ?? 12;
  const rng = createRandom(input.seed ?? 5);
  const plan: string[] = [];
  for (let s = 0; s < segments; s++) {
    let next: string;
    do next = ['clean', ...ids][rng.int(ids.length + 1)]!;
    while (next === plan[plan.length - 1]);
    plan.push(next);
  }
  const frames: Image[] = [];
  const frameLabels: number[] = [];
  const truth: string[] = [];
  for (let s = 0; s < segments; s++) {
    for (let f = 0; f < segment; f++) {
      const k = rng.int(images.length);
      const id = plan[s]!;
      frames.push(id === 'clean' ? images[k]! : corrupt(images[k]!, id, severity, mixSeed(202, s, f)));
      frameLabels.push(labels[k]!);
      truth.push(id);
    }
  }
  auto.reset();
  const choices = frames.map((im) => auto.observe(im));
  const streamAcc = async (mixes: ConditionMix[]): Promise<number> => {
    let right = 0;
    for (let i = 0; i < frames.length; i++) {
      const logits = await cache.get('stream', frames, mixes[i]!);
      if (argmaxRow(logits, i, classes) === frameLabels[i]) right++;
    }
    return right / frames.length;
  };
  const settle: number[] = [];
  for (let s = 1; s < segments; s++) {
    const start = s * segment;
    let at = segment;
    for (let f = 0; f < segment; f++) {
      if (choices[start + f]!.id === plan[s]) {
        at = f + 1;
        break;
      }
    }
    settle.push(at);
  }
  const sorted = [...settle].sort((a, b) => a - b);
  const stream: AutoStreamReport = {
    frames: frames.length,
    segment,
    changes: segments - 1,
    clean: await streamAcc(frames.map(() => ({}))),
    oracle: await streamAcc(truth.map((id) => (id === 'clean' ? {} : oracleMix(id)))),
    auto: await streamAcc(choices.map((c) => c.mix)),
    settleFrames: settle,
    settleMedian: sorted[sorted.length >> 1] ?? 0,
    settleMax: sorted[sorted.length - 1] ?? 0,
    switches: choices.filter((c) => c.switched).length,
  };
  costs.sort((a, b) => a - b);
  return { pack: manifest.id, severity, rows, stream, costMicros: (costs[costs.length >> 1] ?? 0) * 1000, seconds: (performance.now() - t0) / 1000 };
}

/** The report as a Markdown table, as `rws eval --mix auto` prints it. */
export function autoReportMarkdown(r: AutoEvalReport): string {
  const pc = (v: number) => `${(100 * v).toFixed(1)}`;
  const lines = [
    `## Auto condition: pack ${r.pack}, severity ${r.severity}`,
    '',
    '| condition | clean model | oracle | auto per image | auto stream | entropy per batch | classifier top-2 + entropy | picked right (image / stream) |',
    '|---|---|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.condition} | ${pc(x.clean)} | ${pc(x.oracle)} | ${pc(x.autoFile)} | ${pc(x.autoStream)} | ${pc(x.entropyBatch)} | ${pc(x.bothBatch)} | ${pc(x.picked)} / ${pc(x.streamPicked)} |`),
    '',
    `Stream of ${r.stream.frames} frames, condition changing every ${r.stream.segment} (${r.stream.changes} changes, ${r.stream.switches} switches): ` +
      `clean ${pc(r.stream.clean)}%, oracle ${pc(r.stream.oracle)}%, auto ${pc(r.stream.auto)}%; frames to settle after a change: median ${r.stream.settleMedian}, max ${r.stream.settleMax}.`,
    `Auto costs ${r.costMicros.toFixed(0)} µs per frame (features, classifier, tracker). ${r.seconds.toFixed(0)} s in all.`,
    '',
  ];
  return lines.join('\n');
}

/** Loads a pack (with every signature) and evaluates auto on Fashion-MNIST's test images. */
export async function evaluateAutoOnPack(packDir: string, opts: { fashionDir?: string; images?: number; severity?: Severity; segment?: number; threads?: number } = {}): Promise<AutoEvalReport> {
  const pack = await loadPack(packDir);
  const m = pack.manifest;
  const auto = AutoMix.fromPack(m, { available: [...pack.signatureFiles.keys()] }, path.join(packDir, 'pack.json'));
  const patcher = await Patcher.create(await loadOnnx(pack.modelPath), await loadSignatures(pack.signatureFiles), {
    force: m.signatures.filter((s) => s.transfer).map((s) => s.id),
    threads: opts.threads,
    inputName: m.input.name,
    outputName: m.output.name,
  });
  try {
    const { images, labels } = await readFashionImages(opts.fashionDir ?? fashionMnistDir(), 't10k', opts.images ?? 1000);
    return await evaluateAuto({ runner: patcher, manifest: m, auto, images, labels, severity: opts.severity, segment: opts.segment });
  } finally {
    await patcher.dispose();
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  evaluateAutoOnPack(arg('pack') ?? defaultPackDir(), {
    fashionDir: arg('fashion'),
    images: num(arg('images')),
    severity: num(arg('severity')) as Severity | undefined,
    segment: num(arg('segment')),
    threads: num(arg('threads')),
  })
    .then(async (r) => {
      process.stdout.write(autoReportMarkdown(r));
      const json = arg('json');
      if (json) await writeFile(json, JSON.stringify(r, null, 2) + '\n');
    })
    .catch((e: unknown) => {
      console.error((e as Error).message);
      process.exit(1);
    });
}
