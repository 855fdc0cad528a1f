// Conditions panel state <-> the ConditionMix sent to the engine. Pure, so it is tested in Node.
import type { ConditionMix, NamedMix } from '../../../main/api/contract.js';
import { mixKey as coreMixKey } from '../../../main/core/mix.js';

/** One condition's toggle and strength in the panel. */
export interface ConditionSetting {
  on: boolean;
  /** Multiplies the condition's own mix (1 = as the pack defines it). */
  strength: number;
}
export type ConditionSettings = Record<string, ConditionSetting>;

/** Settings with every condition off at strength 1. */
export function offSettings(conditions: NamedMix[]): ConditionSettings {
  return Object.fromEntries(conditions.map((c) => [c.id, { on: false, strength: 1 }]));
}

/** The mix of the enabled conditions: Σ strength × condition's mix, rounded to 1e-4, zeros dropped. */
export function mixFromSettings(conditions: NamedMix[], settings: ConditionSettings): ConditionMix {
  const out: ConditionMix = {};
  for (const c of conditions) {
    const s = settings[c.id];
    if (!s?.on || s.strength === 0) continue;
    for (const [sid, a] of Object.entries(c.mix)) out[sid] = (out[sid] ?? 0) + a * s.strength;
  }
  return cleanMix(out);
}

/** Drop zero strengths and round, so equal mixes have equal keys. */
export function cleanMix(mix: ConditionMix): ConditionMix {
  const out: ConditionMix = {};
  for (const sid of Object.keys(mix).sort()) {
    const a = Math.round(mix[sid]! * 1e4) / 1e4;
    if (a !== 0) out[sid] = a;
  }
  return out;
}

/** Canonical text of a mix: `fog=0.8,low-light=1`, or `off` for the clean model. */
export function mixKey(mix: ConditionMix): string {
  return coreMixKey(cleanMix(mix));
}

/**
 * Panel settings that reproduce a mix (a named mix, or the engine's current one). Conditions whose
 * own mix is one signature are set from it; whatever no condition covers is returned as `rest`.
 */
export function settingsFromMix(conditions: NamedMix[], mix: ConditionMix): { settings: ConditionSettings; rest: ConditionMix } {
  const settings = offSettings(conditions);
  const rest: ConditionMix = { ...cleanMix(mix) };
  for (const c of conditions) {
    const ids = Object.keys(c.mix);
    if (ids.length !== 1) continue;
    const sid = ids[0]!;
    const base = c.mix[sid]!;
    if (rest[sid] === undefined || base === 0) continue;
    settings[c.id] = { on: true, strength: Math.round((rest[sid]! / base) * 1e4) / 1e4 };
    delete rest[sid];
  }
  return { settings, rest };
}

/** Human text of a mix with the pack's condition names: `Fog 80% + Low light 100%`, or `Off (clean model)`. */
export function describeMix(mix: ConditionMix, conditions: NamedMix[], signatureNames: Record<string, string> = {}): string {
  const m = cleanMix(mix);
  const ids = Object.keys(m);
  if (ids.length === 0) return 'Off (clean model)';
  return ids
    .map((sid) => {
      const cond = conditions.find((c) => Object.keys(c.mix).length === 1 && c.mix[sid] !== undefined);
      const name = cond?.name ?? signatureNames[sid] ?? sid;
      return `${name} ${Math.round(m[sid]! * 100)}%`;
    })
    .join(' + ');
}

/** The named mix equal to `mix`, if any (so the panel can highlight it). */
export function matchingNamedMix(mix: ConditionMix, mixes: NamedMix[]): NamedMix | undefined {
  const key = mixKey(mix);
  return mixes.find((m) => mixKey(m.mix) === key);
}
