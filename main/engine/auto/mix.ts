// `--mix auto`: recognise the condition of the images and choose the pack's mix for it.
//
// How (chosen by measurement, see test/bench/auto.ts and issue 6's report): a multinomial logistic
// regression on cheap image statistics (main/core/condition-features.ts), trained on the app's own
// corruptions and stored in pack.json's `autoMix`, gives each image's (condition, severity)
// probabilities for microseconds of work; a tracker (EMA + hysteresis, main/core/auto-tracker.ts)
// turns a stream of them into a steady choice. The alternative, prediction-entropy minimisation over
// the candidate mixes, costs one inference per candidate per decision (over 100× a frame's inference
// on the default pack, test/bench/auto.ts); it is kept as `chooseByEntropy` and measured against the
// classifier by `rws eval --mix auto` (main/engine/auto/eval.ts).
import { estimate, checkClassifier, type ConditionClassifier, type ConditionEstimate } from '../../core/auto-classifier.js';
import { ConditionTracker, type TrackerOptions } from '../../core/auto-tracker.js';
import { conditionFeatures, FEATURE_NAMES, FEATURES_VERSION } from '../../core/condition-features.js';
import type { Image } from '../../core/corruptions/image.js';
import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { AutoMixSpec } from './schema.js';
import type { InputSpec, PackManifest } from '../packs/pack.js';

/** What auto chose for an image, a batch or a frame. */
export interface AutoChoice {
  /** The mix to apply (`{}` = the clean model). */
  mix: ConditionMix;
  /** The condition recognised (`clean` when none). */
  id: string;
  /** Estimated severity 1–5 (0 for clean). */
  severity: number;
  /** How sure (0..1): the averaged probability of `id`. */
  confidence: number;
  /** True when this observation changed the choice. */
  switched: boolean;
}

/** A condition auto may choose: its id and the pack's mix for it at strength 1. */
export interface AutoCandidate {
  id: string;
  mix: ConditionMix;
}

/** Options of `AutoMix.fromPack`. */
export interface AutoMixOptions {
  tracker?: Partial<TrackerOptions>;
  /** Only these condition ids may be chosen (e.g. the signatures that loaded); default all the pack's. */
  available?: readonly string[];
}

/**
 * The pack's candidates: each of its conditions (`conditions[].id` → its mix), plus each signature
 * whose `condition` no named condition covers (→ that signature at 1).
 */
export function packCandidates(manifest: PackManifest): AutoCandidate[] {
  const out: AutoCandidate[] = manifest.conditions.map((c) => ({ id: c.id, mix: { ...c.mix } }));
  for (const s of manifest.signatures) {
    if (!out.some((c) => c.id === s.condition)) out.push({ id: s.condition, mix: { [s.id]: 1 } });
  }
  return out;
}

/** Scales a mix by α. */
function scaled(mix: ConditionMix, alpha: number): ConditionMix {
  const out: ConditionMix = {};
  for (const [k, a] of Object.entries(mix)) out[k] = a * alpha;
  return out;
}

/** Recognises the condition of images and frames and picks the pack's mix; stateful over a stream. */
export class AutoMix {
  private readonly tracker: ConditionTracker;
  private readonly known: Set<string>;
  private last: AutoChoice = { mix: {}, id: 'clean', severity: 0, confidence: 1, switched: false };

  constructor(
    readonly classifier: ConditionClassifier,
    readonly candidates: AutoCandidate[],
    private readonly alpha: Record<string, number[]> = {},
    tracker: Partial<TrackerOptions> = {},
  ) {
    checkClassifier(classifier, FEATURE_NAMES.length);
    if (classifier.features !== FEATURES_VERSION) {
      throw new RwsError('auto-classifier', `autoMix.classifier.features: trained on features "${classifier.features}", this app computes "${FEATURES_VERSION}"; retrain it (main/engine/auto/train.ts)`, { field: 'autoMix.classifier.features' });
    }
    this.tracker = new ConditionTracker(tracker);
    this.known = new Set(candidates.map((c) => c.id));
  }

  /** From a pack's manifest; refuses a pack without `autoMix.classifier`, naming the field. */
  static fromPack(manifest: PackManifest, opts: AutoMixOptions = {}, where = 'pack.json'): AutoMix {
    const spec: AutoMixSpec | undefined = manifest.autoMix;
    if (!spec?.classifier) {
      throw new RwsError('auto-unavailable', `${where}: field "autoMix.classifier": pack "${manifest.id}" has no condition classifier, so --mix auto cannot choose; give the mix, or add one with main/engine/auto/train.ts`, { file: where, field: 'autoMix.classifier' });
    }
    let candidates = packCandidates(manifest);
    if (opts.available) {
      const ok = new Set(opts.available);
      candidates = candidates.filter((c) => Object.keys(c.mix).every((id) => ok.has(id)));
    }
    return new AutoMix(spec.classifier, candidates, spec.alpha ?? {}, { ...spec.tracker, ...opts.tracker });
  }

  /** The choice in force now (after the last `observe`). */
  get current(): AutoChoice {
    return { ...this.last, mix: { ...this.last.mix } };
  }

  /** Forgets the stream: back to the clean model. */
  reset(): void {
    this.tracker.reset();
    this.last = { mix: {}, id: 'clean', severity: 0, confidence: 1, switched: false };
  }

  /** Condition probabilities of images (mean over a batch), with no effect on the stream's state. */
  estimate(images: Image | readonly Image[]): ConditionEstimate {
    const list = Array.isArray(images) ? (images as readonly Image[]) : [images as Image];
    return this.restrict(estimate(this.classifier, list.map(conditionFeatures)));
  }

  /**
   * One step of a stream: a camera frame, or a batch (which moves the average as far as its images
   * would one by one). Returns the mix to use for these images and what it is based on.
   */
  observe(images: Image | readonly Image[]): AutoChoice {
    const list = Array.isArray(images) ? (images as readonly Image[]) : [images as Image];
    if (list.length === 0) return this.current;
    const est = this.estimate(list);
    const t = this.tracker.update(est.conditions, est.severity, list.length);
    this.last = { ...this.choice(t.id, t.severity, t.confidence), switched: t.switched };
    return this.current;
  }

  /** A choice for one image (or batch) on its own, ignoring the stream: the most probable condition if it is sure enough. */
  classify(images: Image | readonly Image[], minConfidence = 0.5): AutoChoice {
    const est = this.estimate(images);
    let id = 'clean';
    let p = est.conditions.get('clean') ?? 0;
    for (const [k, v] of est.conditions) if (v > p) [id, p] = [k, v];
    if (id !== 'clean' && p < minConfidence) [id, p] = ['clean', est.conditions.get('clean') ?? 0];
    return { ...this.choice(id, est.severity.get(id) ?? 0, p), switched: false };
  }

  /** The mix for a condition at a severity: the candidate's mix × α(severity) (α = 1 unless the pack says). */
  mixFor(id: string, severity: number): ConditionMix {
    const cand = this.candidates.find((c) => c.id === id);
    if (!cand || id === 'clean') return {};
    const table = this.alpha[id];
    if (!table) return { ...cand.mix };
    const s = Math.min(5, Math.max(1, severity));
    const lo = Math.floor(s);
    const hi = Math.min(5, lo + 1);
    const a = table[lo - 1]! + (table[hi - 1]! - table[lo - 1]!) * (s - lo);
    // Rounded so that a drifting severity estimate does not change the weights every frame.
    return scaled(cand.mix, Math.round(a * 4) / 4);
  }

  private choice(id: string, severity: number, confidence: number): Omit<AutoChoice, 'switched'> {
    return { mix: this.mixFor(id, severity), id, severity: id === 'clean' ? 0 : Math.round(severity * 10) / 10, confidence };
  }

  /** Folds conditions the pack cannot patch into clean: choosing them would change nothing anyway. */
  private restrict(est: ConditionEstimate): ConditionEstimate {
    const known = this.known;
    const conditions = new Map<string, number>();
    for (const [id, p] of est.conditions) {
      const to = id === 'clean' || known.has(id) ? id : 'clean';
      conditions.set(to, (conditions.get(to) ?? 0) + p);
    }
    if (!conditions.has('clean')) conditions.set('clean', 0);
    return { ...est, conditions };
  }
}

/**
 * The images inside a model input tensor (batch first, the pack's layout and normalisation),
 * back in 0..1, for `AutoMix` to look at: a folder run or a camera frame already has this tensor.
 */
export function imagesFromInput(input: Float32Array, dims: readonly number[], spec: InputSpec): Image[] {
  const { width: w, height: h, channels: c } = spec;
  const n = w * h;
  const per = n * c;
  const batch = dims[0] ?? Math.floor(input.length / per);
  if (batch * per !== input.length) {
    throw new RwsError('input-shape', `input "${spec.name}": ${input.length} values are not ${batch} images of ${w}×${h}×${c}`, { field: spec.name });
  }
  const [lo, hi] = spec.range;
  const span = hi - lo || 1;
  const planar = spec.layout === 'NCHW';
  const bgr = spec.colorSpace === 'bgr';
  const out: Image[] = [];
  for (let b = 0; b < batch; b++) {
    const data = new Float32Array(per);
    const base = b * per;
    for (let ch = 0; ch < c; ch++) {
      const mean = spec.mean[spec.mean.length === 1 ? 0 : ch]!;
      const std = spec.std[spec.std.length === 1 ? 0 : ch]!;
      const dst = bgr ? c - 1 - ch : ch;
      for (let i = 0; i < n; i++) {
        const v = input[base + (planar ? ch * n + i : i * c + ch)]!;
        data[i * c + dst] = (v * std + mean - lo) / span;
      }
    }
    out.push({ width: w, height: h, channels: c as 1 | 3, data });
  }
  return out;
}

/** What the entropy method needs of a model: set a mix, run a batch, get logits. */
export interface MixRunner {
  setMix(mix: ConditionMix): Promise<void>;
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
}

/** Mean softmax entropy (nats) of `rows` rows of logits. */
export function meanEntropy(logits: Float32Array, rows: number): number {
  const k = logits.length / rows;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let j = 0; j < k; j++) top = Math.max(top, logits[r * k + j]!);
    let z = 0;
    for (let j = 0; j < k; j++) z += Math.exp(logits[r * k + j]! - top);
    let h = 0;
    for (let j = 0; j < k; j++) {
      const p = Math.exp(logits[r * k + j]! - top) / z;
      if (p > 0) h -= p * Math.log(p);
    }
    total += h;
  }
  return total / rows;
}

/**
 * The candidate whose patched model is most confident on this batch (lowest mean prediction
 * entropy); one inference per candidate. Leaves the runner on the chosen mix, and returns its
 * logits too so the caller need not run again.
 */
export async function chooseByEntropy(
  runner: MixRunner,
  input: Float32Array,
  dims: number[],
  candidates: readonly AutoCandidate[],
): Promise<{ id: string; mix: ConditionMix; entropy: Record<string, number>; logits: Float32Array }> {
  const entropy: Record<string, number> = {};
  let best: { id: string; mix: ConditionMix; logits: Float32Array; h: number } | undefined;
  for (const c of [{ id: 'clean', mix: {} }, ...candidates]) {
    await runner.setMix(c.mix);
    const logits = await runner.run(input, dims);
    const h = meanEntropy(logits, dims[0]!);
    entropy[c.id] = h;
    if (!best || h < best.h) best = { ...c, logits, h };
  }
  await runner.setMix(best!.mix);
  return { id: best!.id, mix: best!.mix, entropy, logits: best!.logits };
}

/**
 * How `--mix auto` applies to a run: `file` chooses per image (images sharing a choice are run
 * together; the same file always gets the same mix, so a resumed run matches), `batch` chooses once
 * per batch from its mean, `stream` feeds the tracker (camera frames, ordered sequences).
 */
export type AutoScope = 'file' | 'batch' | 'stream';

/** Scores of a batch run with auto's choice, and the choice behind each image. */
export interface AutoRun {
  scores: Float32Array;
  choices: AutoChoice[];
}

/** Runs one batch (`input`, batch-first `dims`, laid out as `spec`) with the mix auto chooses for it. */
export async function runAuto(runner: MixRunner, auto: AutoMix, input: Float32Array, dims: number[], spec: InputSpec, scope: AutoScope): Promise<AutoRun> {
  const images = imagesFromInput(input, dims, spec);
  const n = images.length;
  if (scope !== 'file') {
    const choice = scope === 'batch' ? auto.classify(images) : auto.observe(images);
    await runner.setMix(choice.mix);
    return { scores: await runner.run(input, dims), choices: images.map(() => choice) };
  }
  const choices = images.map((img) => auto.classify(img));
  const groups = new Map<string, number[]>();
  choices.forEach((c, i) => {
    const key = Object.entries(c.mix).sort().join(',');
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  const per = input.length / n;
  let scores: Float32Array | undefined;
  for (const idx of groups.values()) {
    const sub = idx.length === n ? input : new Float32Array(idx.length * per);
    if (sub !== input) idx.forEach((src, j) => sub.set(input.subarray(src * per, (src + 1) * per), j * per));
    await runner.setMix(choices[idx[0]!]!.mix);
    const out = await runner.run(sub, [idx.length, ...dims.slice(1)]);
    if (idx.length === n) return { scores: out, choices };
    const cols = out.length / idx.length;
    scores ??= new Float32Array(n * cols);
    idx.forEach((dst, j) => scores!.set(out.subarray(j * cols, (j + 1) * cols), dst * cols));
  }
  return { scores: scores!, choices };
}
