import { RwsError } from './errors.js';
import { normalizeMix } from './mix.js';
import type { ConditionMix, PatchMode, Signature } from './signature.js';

/** One signature's delta for one tensor. */
interface Term {
  id: string;
  delta: Float32Array;
}

/** A term of one patch: strength and delta. */
interface ActiveTerm {
  alpha: number;
  delta: Float32Array;
}

interface PatchedTensor {
  clean: Float32Array;
  mode: PatchMode;
  /** Sorted by signature id: the summation order, so results do not depend on the mix's key order. */
  terms: Term[];
  /** Output buffer for `{ reuse: true }`. */
  out?: Float32Array;
}

/** Options of `WeightPatch.tensorsFor`. */
export interface TensorsForOptions {
  /**
   * Write patched values into buffers owned by this WeightPatch instead of new arrays. Faster, but a
   * returned array is overwritten by the next `tensorsFor` call: use it (or copy it) before then.
   */
  reuse?: boolean;
}

/**
 * The patch math: θ = θ_clean + Σ_c α_c·δ_c (mode `add`), or θ_clean·exp(Σ_c α_c·δ_c) (mode `log`,
 * BatchNorm variance), for every tensor any signature touches. Sums run in f64 in sorted signature
 * order and round to f32 once. A tensor that no signature of the mix touches comes back as the
 * clean array itself (never rebuilt, never subtracted from), so switching a patch off restores the
 * clean weights bit for bit. Returned arrays must not be mutated.
 */
export class WeightPatch {
  private readonly tensors = new Map<string, PatchedTensor>();
  private readonly ids: string[];
  private scratch = new Float64Array(0);

  /** Check every signature against the clean tensors (by name and size); errors name the signature and tensor. */
  constructor(clean: Map<string, Float32Array>, signatures: Map<string, Signature>) {
    this.ids = [...signatures.keys()].sort();
    for (const id of this.ids) {
      const sig = signatures.get(id)!;
      const seen = new Set<string>();
      for (const t of sig.tensors) {
        const where = `signature "${id}", tensor "${t.name}"`;
        if (seen.has(t.name)) throw new RwsError('patch-tensor', `${where}: appears twice`, { field: t.name });
        seen.add(t.name);
        const base = clean.get(t.name);
        if (!base) throw new RwsError('patch-tensor', `${where}: the model has no tensor of that name`, { field: t.name });
        const count = t.shape.reduce((a, b) => a * b, 1);
        if (count !== t.values.length || t.values.length !== base.length) {
          throw new RwsError(
            'patch-shape',
            `${where}: shape [${t.shape.join(', ')}] (${t.values.length} values) does not match the model's tensor (${base.length} values)`,
            { field: t.name },
          );
        }
        let entry = this.tensors.get(t.name);
        if (!entry) {
          entry = { clean: base, mode: t.mode, terms: [] };
          this.tensors.set(t.name, entry);
        } else if (entry.mode !== t.mode) {
          throw new RwsError('patch-mode', `${where}: mode "${t.mode}" differs from "${entry.mode}" used by signature "${entry.terms[0]!.id}"`, { field: t.name });
        }
        entry.terms.push({ id, delta: t.values });
      }
    }
  }

  /** Names of the tensors any signature touches, sorted. */
  touched(): string[] {
    return [...this.tensors.keys()].sort();
  }

  /** Ids of the signatures this patch was built with, sorted. */
  signatureIds(): string[] {
    return [...this.ids];
  }

  /** The patched value of every touched tensor for `mix` (see the class doc for how it is computed). */
  tensorsFor(mix: ConditionMix, options: TensorsForOptions = {}): Map<string, Float32Array> {
    const active = normalizeMix(mix);
    for (const id of Object.keys(active)) {
      if (!this.ids.includes(id)) {
        throw new RwsError('mix-unknown', `mix: no signature "${id}" is loaded (loaded: ${this.ids.join(', ') || 'none'})`, { field: id });
      }
    }
    const result = new Map<string, Float32Array>();
    for (const name of this.touched()) {
      const entry = this.tensors.get(name)!;
      const terms: ActiveTerm[] = [];
      for (const t of entry.terms) {
        const alpha = active[t.id];
        if (alpha !== undefined) terms.push({ alpha, delta: t.delta });
      }
      if (terms.length === 0) {
        result.set(name, entry.clean);
        continue;
      }
      let out: Float32Array;
      if (options.reuse) out = entry.out ??= new Float32Array(entry.clean.length);
      else out = new Float32Array(entry.clean.length);
      this.combine(entry.clean, entry.mode, terms, out);
      // A huge signature value at a high strength overflows float32: refused here, by name, rather
      // than run into scores of NaN.
      const bad = out.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        const ids = entry.terms.filter((t) => active[t.id] !== undefined).map((t) => `"${t.id}" at ${active[t.id]}`).join(', ');
        throw new RwsError('patch-overflow', `mix: patching tensor "${name}" with signature ${ids} gives ${out[bad]} at index ${bad}: the signature's values are too large for this strength`, { field: name });
      }
      result.set(name, out);
    }
    return result;
  }

  private combine(clean: Float32Array, mode: PatchMode, terms: ActiveTerm[], out: Float32Array): void {
    const n = clean.length;
    // The common cases without a scratch buffer; the arithmetic is the same as the general loop:
    // s = ((α1·δ1 + α2·δ2) + α3·δ3) ..., then θ = c + s (or c·exp(s)), all in f64.
    if (terms.length === 1) {
      const { alpha: a, delta: d } = terms[0]!;
      if (mode === 'add') for (let i = 0; i < n; i++) out[i] = clean[i]! + a * d[i]!;
      else for (let i = 0; i < n; i++) out[i] = clean[i]! * Math.exp(a * d[i]!);
      return;
    }
    if (terms.length === 2) {
      const { alpha: a, delta: d } = terms[0]!;
      const { alpha: b, delta: e } = terms[1]!;
      if (mode === 'add') for (let i = 0; i < n; i++) out[i] = clean[i]! + (a * d[i]! + b * e[i]!);
      else for (let i = 0; i < n; i++) out[i] = clean[i]! * Math.exp(a * d[i]! + b * e[i]!);
      return;
    }
    if (terms.length === 3) {
      const [{ alpha: a, delta: d }, { alpha: b, delta: e }, { alpha: g, delta: h }] = terms as [ActiveTerm, ActiveTerm, ActiveTerm];
      if (mode === 'add') for (let i = 0; i < n; i++) out[i] = clean[i]! + (a * d[i]! + b * e[i]! + g * h[i]!);
      else for (let i = 0; i < n; i++) out[i] = clean[i]! * Math.exp(a * d[i]! + b * e[i]! + g * h[i]!);
      return;
    }
    if (this.scratch.length < n) this.scratch = new Float64Array(n);
    const s = this.scratch;
    const { alpha: a0, delta: d0 } = terms[0]!;
    for (let i = 0; i < n; i++) s[i] = a0 * d0[i]!;
    for (let k = 1; k < terms.length; k++) {
      const { alpha: a, delta: d } = terms[k]!;
      for (let i = 0; i < n; i++) s[i] += a * d[i]!;
    }
    if (mode === 'add') for (let i = 0; i < n; i++) out[i] = clean[i]! + s[i]!;
    else for (let i = 0; i < n; i++) out[i] = clean[i]! * Math.exp(s[i]!);
  }
}
