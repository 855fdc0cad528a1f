// Auto's condition recogniser: which weather the images show, from cheap image statistics.
//
// A multinomial logistic regression on image statistics (main/core/condition-features.ts), trained on
// every generator family of the app's conditions and stored in pack.json's `autoMix`, gives each
// image's (condition, severity) probabilities for microseconds of work; a tracker (EMA +
// hysteresis, main/core/auto-tracker.ts) turns a stream of them into a steady proposal. It only
// proposes: what Auto applies is decided by the model's own outputs (chooser.ts), because a
// classifier of image statistics is fooled by weather made differently from what it was trained on.
import { estimate, checkClassifier, type ConditionClassifier, type ConditionEstimate } from '../../core/auto-classifier.js';
import { ConditionTracker, type TrackerOptions } from '../../core/auto-tracker.js';
import { conditionFeatures, FEATURE_NAMES, FEATURES_VERSION } from '../../core/condition-features.js';
import type { Image } from '../../core/corruptions/image.js';
import { RwsError } from '../../core/errors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { AutoMixSpec } from './schema.js';
import type { InputSpec, PackManifest } from '../packs/pack.js';
import { packCandidates, type AutoCandidate, type AutoChoice } from './choice.js';

/** Options of `AutoMix.fromPack`. */
export interface AutoMixOptions {
  tracker?: Partial<TrackerOptions>;
  /** Only these condition ids may be chosen (e.g. the signatures that loaded); default all the pack's. */
  available?: readonly string[];
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
    this.known = new Set(candidates.map((c) => c.condition ?? c.id));
  }

  /** From a pack's manifest; refuses a pack without `autoMix.classifier`, naming the field. */
  static fromPack(manifest: PackManifest, opts: AutoMixOptions = {}, where = 'pack.json'): AutoMix {
    const spec: AutoMixSpec | undefined = manifest.autoMix;
    if (!spec?.classifier) {
      throw new RwsError('auto-unavailable', `${where}: field "autoMix.classifier": pack "${manifest.id}" has no condition classifier, so --mix auto cannot choose; give the mix, or add one with main/engine/auto/train.ts`, { file: where, field: 'autoMix.classifier' });
    }
    const candidates = packCandidates(manifest, opts.available);
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
    const cand = this.candidates.find((c) => (c.condition ?? c.id) === id);
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

