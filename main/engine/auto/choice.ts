// What Auto chooses among and what it tells about a choice: shared by the recogniser (mix.ts),
// sample-then-commit (sample-commit.ts), the stream bandit (stream.ts) and the choosers (chooser.ts).
import { mixKey } from '../../core/mix.js';
import { rowProbabilities } from '../../core/tensors.js';
import type { ConditionMix } from '../../core/signature.js';
import type { PackManifest } from '../packs/pack.js';

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
  /** For a choice made by the model's own outputs: its score gain over the clean model (nats), the images it rests on, and whether it abstained. */
  evidence?: { gain: number; images: number; abstained: boolean };
  /**
   * A hedge (folder runs): the runner-up, when the sample could not tell it from `mix` and the two
   * classify enough of its images differently; each image then runs under both and takes the mean
   * of their probabilities (`blendOutputs`).
   */
  blend?: { id: string; mix: ConditionMix };
}

/** How a choice is named in reports: its id, or `a|b` for a hedge of two. */
export function choiceName(c: Pick<AutoChoice, 'id' | 'blend'>): string {
  return c.blend ? `${c.id}|${c.blend.id}` : c.id;
}

/**
 * The mean of two candidates' probabilities for each row of `classes` scores: as probabilities, or
 * for `logits` as their logarithm (whose softmax is that mean).
 */
export function blendOutputs(a: Float32Array, b: Float32Array, classes: number, kind: 'logits' | 'probabilities'): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < a.length / classes; r++) {
    const pa = rowProbabilities(a, r, classes, kind);
    const pb = rowProbabilities(b, r, classes, kind);
    for (let j = 0; j < classes; j++) {
      const q = (pa[j]! + pb[j]!) / 2;
      out[r * classes + j] = kind === 'logits' ? Math.log(Math.max(q, Number.MIN_VALUE)) : q;
    }
  }
  return out;
}

/** A mix auto may choose: its id, the mix, and the condition it is for (what the classifier names), if one. */
export interface AutoCandidate {
  id: string;
  mix: ConditionMix;
  condition?: string;
}

/** What Auto needs of a model: set a mix, run a batch, get its scores. */
export interface MixRunner {
  setMix(mix: ConditionMix): Promise<void>;
  run(input: Float32Array, dims: number[]): Promise<Float32Array>;
}

/** Scores of a batch run with auto's choice, and the choice behind each image. */
export interface AutoRun {
  scores: Float32Array;
  choices: AutoChoice[];
}

/**
 * The pack's candidates: each of its conditions (`conditions[].id` → its mix), each named mix, and
 * each signature whose mix is not already there (→ that signature at 1); with `available`, only
 * those whose signatures all loaded. Equal mixes are listed once, under the first id.
 */
export function packCandidates(manifest: PackManifest, available?: readonly string[]): AutoCandidate[] {
  const ok = available && new Set(available);
  const out: AutoCandidate[] = [];
  const keys = new Set<string>(['off']);
  const add = (id: string, mix: ConditionMix, condition?: string) => {
    if (ok && !Object.keys(mix).every((s) => ok.has(s))) return;
    const key = mixKey(mix);
    if (keys.has(key)) return;
    keys.add(key);
    out.push({ id, mix: { ...mix }, ...(condition ? { condition } : {}) });
  };
  for (const c of manifest.conditions) add(c.id, c.mix, c.id);
  for (const m of manifest.mixes) add(m.id, m.mix);
  for (const s of manifest.signatures) add(s.id, { [s.id]: 1 }, out.some((c) => c.condition === s.condition) ? undefined : s.condition);
  return out;
}

