// What Auto chooses among and what it tells about a choice: shared by the recogniser (mix.ts),
// sample-then-commit (sample-commit.ts), the stream bandit (stream.ts) and the choosers (chooser.ts).
import { mixKey } from '../../core/mix.js';
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

