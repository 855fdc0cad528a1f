// Measuring `--mix auto` (issue 11): on labelled images with each condition made by each of its
// generator families at each strength, Auto's accuracy against the clean model and against the best
// of the pack's mixes chosen with hindsight (the best a user could do by picking the mix by hand,
// knowing the labels); how often it picks each mix and abstains; on a stream whose weather changes
// every few hundred frames, accuracy, frames until it settles, switches (flicker), and what it costs
// per frame. Auto over a folder chooses by the model's own outputs and was trained on nothing, so
// every family is one it never saw. `rws eval --mix auto` prints this report.
import { argmaxRow, batchDims, unitToBytes } from '../../core/tensors.js';
import { CONDITIONS, corrupt, familiesOf, type Image } from '../../core/corruptions/index.js';
import { createRandom, mixSeed } from '../../core/random.js';
import { mixKey } from '../../core/mix.js';
import type { ConditionMix } from '../../core/signature.js';
import path from 'node:path';
import { choiceName, packCandidates, type AutoCandidate, type MixRunner } from './choice.js';
import { createChooser, type AutoScope } from './chooser.js';
import { AutoMix } from './mix.js';
import { fashionMnistDir } from '../io/idx.js';
import { toTensor } from '../io/image-decode.js';
import { loadLabelledData } from '../io/labelled-data.js';
import { loadOnnx } from '../onnx/model.js';
import { loadPack, type InputSpec } from '../packs/pack.js';
import { loadSignatures, Patcher } from '../runtime/patcher.js';

/** One labelled set (a condition by one family at one strength, or the clean images): every way to choose the mix. */
export interface AutoSetRow {
  condition: string;
  family: string;
  strength: number;
  images: number;
  /** The clean model. */
  clean: number;
  /** Each candidate mix, by id. */
  candidates: Record<string, number>;
  /** The best candidate chosen with hindsight (the clean model excluded). */
  best: { id: string; accuracy: number };
  auto: number;
  /** Share of images Auto ran under each candidate (`clean` included). */
  picks: Record<string, number>;
  /** Share of images where Auto kept the clean model because no mix won by its margin. */
  abstained: number;
}

/** The changing stream. */
export interface AutoStreamReport {
  frames: number;
  segment: number;
  changes: number;
  clean: number;
  /** Each segment under the candidate best for it, chosen with hindsight. */
  best: number;
  auto: number;
  /** Switches Auto made, and those beyond one per segment (flicker on a steady scene). */
  switches: number;
  extraSwitches: number;
  /** Frames from each change until Auto settled on the mix it kept for that segment. */
  settleMedian: number;
  settleMax: number;
  /** Inferences per frame (1 without Auto): the exploration's cost. */
  inferencesPerFrame: number;
}

export interface AutoEvalReport {
  pack: string;
  scope: AutoScope;
  candidates: string[];
  rows: AutoSetRow[];
  stream?: AutoStreamReport;
  seconds: number;
}

/** What `evaluateAuto` runs on. */
export interface AutoEvalInput {
  pack: string;
  runner: MixRunner;
  spec: InputSpec;
  classes: number;
  kind: 'logits' | 'probabilities';
  candidates: AutoCandidate[];
  recogniser?: AutoMix;
  images: Image[];
  labels: ArrayLike<number>;
  /** Conditions (default every simulated condition a candidate is named for) and families (default all). */
  conditions?: string[];
  families?: string[];
  strengths?: number[];
  scope?: AutoScope;
  /** Frames per stream segment (0: no stream). */
  segment?: number;
  segments?: number;
  seed?: number;
  batch?: number;
}

/** A runner that counts inferences. */
function counting(runner: MixRunner): MixRunner & { images: number } {
  const r = {
    images: 0,
    setMix: (m: ConditionMix) => runner.setMix(m),
    run: async (x: Float32Array, d: number[]) => {
      r.images += d[0]!;
      return runner.run(x, d);
    },
  };
  return r;
}

function tensorOf(images: readonly Image[], spec: InputSpec): Float32Array {
  const per = spec.width * spec.height * spec.channels;
  const out = new Float32Array(images.length * per);
  images.forEach((im, i) => out.set(toTensor(unitToBytes(im.data), im.channels, spec), i * per));
  return out;
}

/** Logits of a set under a mix, batch by batch. */
async function logitsOf(runner: MixRunner, set: readonly Image[], mix: ConditionMix, spec: InputSpec, classes: number, batch: number): Promise<Float32Array> {
  const out = new Float32Array(set.length * classes);
  await runner.setMix(mix);
  for (let start = 0; start < set.length; start += batch) {
    const part = set.slice(start, start + batch);
    out.set(await runner.run(tensorOf(part, spec), batchDims(spec, part.length)), start * classes);
  }
  return out;
}

function accuracyOf(logits: Float32Array, labels: ArrayLike<number>, classes: number, rows: number[]): number {
  let right = 0;
  for (const i of rows) if (argmaxRow(logits, i, classes) === labels[i]) right++;
  return rows.length ? right / rows.length : 0;
}

/** The sets to measure: the clean images, then each condition × family × strength. */
function setsOf(input: AutoEvalInput): { condition: string; family: string; strength: number }[] {
  const ids = new Set(input.candidates.map((c) => c.id));
  const conditions = input.conditions ?? CONDITIONS.map((c) => c.id).filter((c) => ids.has(c));
  const out = [{ condition: 'clean', family: '', strength: 0 }];
  for (const c of conditions) {
    for (const f of familiesOf(c)) {
      if (input.families && !input.families.includes('all') && !input.families.includes(f.id)) continue;
      for (const s of input.strengths ?? [1, 3, 5]) out.push({ condition: c, family: f.id, strength: s });
    }
  }
  return out;
}

/** Runs the whole evaluation; see the top of this file. */
export async function evaluateAuto(input: AutoEvalInput): Promise<AutoEvalReport> {
  const t0 = performance.now();
  const { spec, classes, labels, images } = input;
  const batch = input.batch ?? 32;
  const scope = input.scope ?? 'folder';
  const all: AutoCandidate[] = [{ id: 'clean', mix: {} }, ...input.candidates.filter((c) => mixKey(c.mix) !== 'off')];
  const rows: AutoSetRow[] = [];
  const idx = Array.from({ length: images.length }, (_, i) => i);
  for (const [k, set] of setsOf(input).entries()) {
    const data = set.condition === 'clean' ? images : images.map((im, i) => corrupt(im, `${set.condition}/${set.family}`, set.strength, mixSeed(input.seed ?? 101, k, i)));
    const candidates: Record<string, number> = {};
    for (const c of all) candidates[c.id] = accuracyOf(await logitsOf(input.runner, data, c.mix, spec, classes, batch), labels, classes, idx);
    const best = Object.entries(candidates).filter(([id]) => id !== 'clean').reduce((a, b) => (b[1] > a[1] ? b : a), ['clean', -1] as [string, number]);
    const chooser = createChooser(scope, input.runner, input.candidates, { classes, kind: input.kind });
    let right = 0;
    let abstained = 0;
    const picks: Record<string, number> = {};
    for (let start = 0; start < data.length; start += batch) {
      const part = data.slice(start, start + batch);
      const r = await chooser.run(tensorOf(part, spec), batchDims(spec, part.length));
      r.choices.forEach((c, j) => {
        if (argmaxRow(r.scores, j, classes) === labels[start + j]) right++;
        picks[choiceName(c)] = (picks[choiceName(c)] ?? 0) + 1 / data.length;
        if (c.evidence?.abstained) abstained++;
      });
    }
    rows.push({ ...set, images: data.length, clean: candidates.clean!, candidates, best: { id: best[0], accuracy: best[1] }, auto: right / data.length, picks, abstained: abstained / data.length });
  }
  const stream = (input.segment ?? 0) > 0 ? await streamExperiment(input, all) : undefined;
  return { pack: input.pack, scope, candidates: all.map((c) => c.id), rows, ...(stream ? { stream } : {}), seconds: (performance.now() - t0) / 1000 };
}

/** A stream of segments, each one condition by one family at strength 3 (clean among them), images shuffled. */
async function streamExperiment(input: AutoEvalInput, all: AutoCandidate[]): Promise<AutoStreamReport> {
  const { spec, classes, images, labels } = input;
  const segment = input.segment!;
  const segments = input.segments ?? 12;
  const rng = createRandom(input.seed ?? 5);
  const choices = [{ condition: 'clean', family: '' }, ...setsOf({ ...input, strengths: [3] }).filter((s) => s.condition !== 'clean')];
  const plan: { condition: string; family: string }[] = [];
  for (let s = 0; s < segments; s++) {
    let next;
    do next = choices[rng.int(choices.length)]!;
    while (plan.length && next.condition === plan[plan.length - 1]!.condition);
    plan.push(next);
  }
  const frames: Image[] = [];
  const frameLabels: number[] = [];
  for (const [s, seg] of plan.entries()) {
    for (let f = 0; f < segment; f++) {
      const k = rng.int(images.length);
      frames.push(seg.condition === 'clean' ? images[k]! : corrupt(images[k]!, `${seg.condition}/${seg.family}`, 3, mixSeed(202, s, f)));
      frameLabels.push(labels[k]!);
    }
  }
  const counted = counting(input.runner);
  const chooser = createChooser('stream', counted, input.candidates, { classes, kind: input.kind, recogniser: input.recogniser });
  input.recogniser?.reset();
  let right = 0;
  let switches = 0;
  const ids: string[] = [];
  for (const [i, im] of frames.entries()) {
    const r = await chooser.run(tensorOf([im], spec), batchDims(spec, 1), () => [im]);
    const c = r.choices[0]!;
    if (argmaxRow(r.scores, 0, classes) === frameLabels[i]) right++;
    if (c.switched) switches++;
    ids.push(c.id);
  }
  const inferencesPerFrame = counted.images / frames.length;
  // Hindsight: per segment, the candidate with the best accuracy on its frames.
  let bestRight = 0;
  let cleanRight = 0;
  const logits = new Map<string, Float32Array>();
  for (const c of all) logits.set(c.id, await logitsOf(input.runner, frames, c.mix, spec, classes, input.batch ?? 32));
  const settle: number[] = [];
  let extra = 0;
  for (let s = 0; s < segments; s++) {
    const rows = Array.from({ length: segment }, (_, f) => s * segment + f);
    cleanRight += accuracyOf(logits.get('clean')!, frameLabels, classes, rows) * segment;
    bestRight += Math.max(...all.map((c) => accuracyOf(logits.get(c.id)!, frameLabels, classes, rows))) * segment;
    const segIds = rows.map((i) => ids[i]!);
    const final = segIds[segIds.length - 1]!;
    let at = segment;
    for (let f = segment - 1; f >= 0 && segIds[f] === final; f--) at = f;
    if (s > 0) settle.push(at);
    let changes = 0;
    for (let f = 1; f < segment; f++) if (segIds[f] !== segIds[f - 1]) changes++;
    extra += Math.max(0, changes - 1);
  }
  const sorted = [...settle].sort((a, b) => a - b);
  return {
    frames: frames.length,
    segment,
    changes: segments - 1,
    clean: cleanRight / frames.length,
    best: bestRight / frames.length,
    auto: right / frames.length,
    switches,
    extraSwitches: extra,
    settleMedian: sorted[sorted.length >> 1] ?? 0,
    settleMax: sorted[sorted.length - 1] ?? 0,
    inferencesPerFrame,
  };
}

/** The report as Markdown tables, as `rws eval --mix auto` prints it. */
export function autoReportMarkdown(r: AutoEvalReport): string {
  const pc = (v: number) => (100 * v).toFixed(1);
  const top = (p: Record<string, number>) =>
    Object.entries(p)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([id, v]) => `${id} ${pc(v)}%`)
      .join(', ');
  const lines = [
    `## Auto (${r.scope}): pack ${r.pack}; candidates ${r.candidates.join(', ')}`,
    '',
    '| condition | family | strength | clean model | best mix (hindsight) | auto | auto − best | auto − clean | auto ran |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.condition} | ${x.family || '–'} | ${x.strength || '–'} | ${pc(x.clean)} | ${x.best.id} ${pc(x.best.accuracy)} | ${pc(x.auto)} | ${((x.auto - x.best.accuracy) * 100).toFixed(1)} | ${((x.auto - x.clean) * 100).toFixed(1)} | ${top(x.picks)} |`),
    '',
  ];
  const worstBest = Math.min(...r.rows.filter((x) => x.condition !== 'clean').map((x) => x.auto - x.best.accuracy));
  const worstClean = Math.min(...r.rows.map((x) => x.auto - x.clean));
  lines.push(`Worst row: ${(worstBest * 100).toFixed(1)} pp against the best mix with hindsight, ${(worstClean * 100).toFixed(1)} pp against the clean model.`);
  if (r.stream) {
    const s = r.stream;
    lines.push(
      '',
      `Stream of ${s.frames} frames, weather changing every ${s.segment} (${s.changes} changes): clean ${pc(s.clean)}%, best mix per segment (hindsight) ${pc(s.best)}%, auto ${pc(s.auto)}%; ` +
        `${s.switches} switches (${s.extraSwitches} beyond one per segment); frames to settle after a change: median ${s.settleMedian}, max ${s.settleMax}; ` +
        `${s.inferencesPerFrame.toFixed(3)} inferences per frame.`,
    );
  }
  lines.push(`${r.seconds.toFixed(0)} s in all.`, '');
  return lines.join('\n');
}

/** Options of `evaluateAutoOnPack`. */
export interface AutoPackEvalOptions {
  /** Labelled data (IDX or class folders; default Fashion-MNIST's test set). */
  data?: string;
  images?: number;
  conditions?: string[];
  families?: string[];
  strengths?: number[];
  /** Measure on the data as it is (already corrupted images), simulating nothing. */
  asIs?: boolean;
  scope?: AutoScope;
  segment?: number;
  threads?: number;
  seed?: number;
}

/** Loads a pack (with every signature present) and evaluates Auto on labelled images. */
export async function evaluateAutoOnPack(packDir: string, opts: AutoPackEvalOptions = {}): Promise<AutoEvalReport> {
  const pack = await loadPack(packDir);
  const m = pack.manifest;
  const available = [...pack.signatureFiles.keys()];
  const patcher = await Patcher.create(await loadOnnx(pack.modelPath), await loadSignatures(pack.signatureFiles), {
    force: m.signatures.filter((s) => s.transfer).map((s) => s.id),
    threads: opts.threads,
    inputName: m.input.name,
    outputName: m.output.name,
  });
  try {
    const data = await loadLabelledData(opts.data ?? fashionMnistDir(), m.input, m.labels, opts.images ?? 1000);
    const report = await evaluateAuto({
      pack: m.id,
      runner: patcher,
      spec: m.input,
      classes: m.labels.length,
      kind: m.output.kind,
      candidates: packCandidates(m, available),
      ...(m.autoMix?.classifier ? { recogniser: AutoMix.fromPack(m, { available }, path.join(packDir, 'pack.json')) } : {}),
      images: data.images,
      labels: data.labels,
      conditions: opts.asIs ? [] : opts.conditions,
      families: opts.families,
      strengths: opts.strengths,
      scope: opts.scope,
      segment: opts.asIs ? 0 : (opts.segment ?? 200),
      seed: opts.seed,
    });
    if (opts.asIs) report.rows[0]!.condition = 'as given';
    return report;
  } finally {
    await patcher.dispose();
  }
}
