import { RwsError } from './errors.js';
import type { ConditionMix } from './signature.js';

/** Largest |α| of one signature in a mix, whatever form the mix comes in: object, text, flag, pack. */
export const MAX_STRENGTH = 4;

/** `alpha` when it is a finite strength within ±MAX_STRENGTH; otherwise an error naming `source` and the id. */
export function checkStrength(id: string, alpha: number, source: string): number {
  if (!Number.isFinite(alpha) || Math.abs(alpha) > MAX_STRENGTH) {
    throw new RwsError('mix-range', `${source}: strength of "${id}" is ${String(alpha)}; strengths go from -${MAX_STRENGTH} to ${MAX_STRENGTH}`, { field: source });
  }
  return alpha;
}

/** The same mix without zero strengths, keys sorted; refuses a strength that is not a finite number. */
export function normalizeMix(mix: ConditionMix): ConditionMix {
  const out: ConditionMix = {};
  for (const id of Object.keys(mix).sort()) {
    const alpha = mix[id];
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) {
      throw new RwsError('mix-value', `mix: strength of "${id}" is ${String(alpha)}, not a finite number`, { field: id });
    }
    if (alpha !== 0) Object.defineProperty(out, id, { value: alpha, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Canonical text of a mix, e.g. "fog=0.8,low-light=1"; "off" when nothing is on. Equal mixes give equal keys. */
export function mixKey(mix: ConditionMix): string {
  const entries = Object.entries(normalizeMix(mix));
  return entries.length === 0 ? 'off' : entries.map(([id, alpha]) => `${id}=${formatStrength(alpha)}`).join(',');
}

const HEDGE_SEPARATOR = ' | ';

/** What a file ran under as text: its mix, or for an Auto hedge both mixes, `a | b` (their probabilities averaged). */
export function ranUnderKey(mix: ConditionMix, blend?: ConditionMix): string {
  return blend ? `${mixKey(mix)}${HEDGE_SEPARATOR}${mixKey(blend)}` : mixKey(mix);
}

/** `ranUnderKey`'s text back in its parts: the mix text, and the hedge's second mix text if any. */
export function splitRanUnder(text: string): { mix: string; blend?: string } {
  const at = text.indexOf(HEDGE_SEPARATOR);
  return at < 0 ? { mix: text } : { mix: text.slice(0, at), blend: text.slice(at + HEDGE_SEPARATOR.length) };
}

/** A strength as mix text: 12 significant digits, so 0.1 + 0.2 reads `0.3` and not `0.30000000000000004`. */
export function formatStrength(alpha: number): string {
  return String(Number(alpha.toPrecision(12)));
}

/** What mix text is resolved against: a pack's signature, condition and mix ids. */
export interface MixVocabulary {
  id: string;
  signatures: { id: string }[];
  conditions: { id: string; mix: ConditionMix }[];
  mixes: { id: string; mix: ConditionMix }[];
}

/**
 * Mix text as a mix: `off` (or `clean`, or nothing), a named condition or mix id, or
 * `ID=α,ID=α` (α defaults to 1; a condition id in a list adds its own mix scaled by α). With a
 * vocabulary, ids it does not know are refused; `source` names the flag or field in messages.
 * Every strength, as written and as summed per signature, must be finite and within
 * ±MAX_STRENGTH (the object form of a mix is checked by turning it into this text).
 * `auto` is the caller's to handle.
 */
export function parseMix(value: string, vocabulary: MixVocabulary | undefined, source = '--mix'): ConditionMix {
  const out = parseMixText(value, vocabulary, source);
  for (const [id, alpha] of Object.entries(out)) checkStrength(id, alpha, source);
  return out;
}

function parseMixText(value: string, vocabulary: MixVocabulary | undefined, source: string): ConditionMix {
  const v = value.trim();
  if (v === '' || v === 'off' || v === 'clean') return {};
  const named = vocabulary && [...vocabulary.conditions, ...vocabulary.mixes].find((c) => c.id === v);
  if (named) return { ...named.mix };
  const out: ConditionMix = {};
  // Own properties only: an id such as `constructor` must not add to what Object.prototype holds.
  const add = (id: string, alpha: number) => Object.defineProperty(out, id, { value: (Object.hasOwn(out, id) ? out[id]! : 0) + alpha, enumerable: true, writable: true, configurable: true });
  for (const part of v.split(',')) {
    const m = /^\s*([a-z0-9][a-z0-9-]*)\s*(?:=\s*(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?))?\s*$/i.exec(part);
    if (!m) throw new RwsError('mix-syntax', `${source}: "${part}" is not ID=STRENGTH (e.g. fog=0.8,low-light=1)`, { field: source });
    const sid = m[1]!.toLowerCase();
    const alpha = m[2] === undefined ? 1 : checkStrength(sid, Number(m[2]), source);
    if (vocabulary) {
      const cond = vocabulary.conditions.find((c) => c.id === sid);
      const isSig = vocabulary.signatures.some((s) => s.id === sid);
      if (!isSig && cond) {
        for (const [k, a] of Object.entries(cond.mix)) add(k, a * alpha);
        continue;
      }
      if (!isSig) {
        const ids = [...vocabulary.signatures.map((s) => s.id), ...vocabulary.mixes.map((s) => s.id)].join(', ');
        throw new RwsError('mix-unknown', `${source}: "${sid}" is not a signature, condition or mix of pack "${vocabulary.id}" (known: ${ids})`, { field: source });
      }
    }
    add(sid, alpha);
  }
  return out;
}
