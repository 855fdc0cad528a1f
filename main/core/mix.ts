import { RwsError } from './errors.js';
import type { ConditionMix } from './signature.js';

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
  return entries.length === 0 ? 'off' : entries.map(([id, alpha]) => `${id}=${alpha}`).join(',');
}
