import type { CommandArgs, ConditionMix, MixState } from '../../api/contract.js';
import { mixKey, normalizeMix, parseMix } from '../../core/mix.js';
import { assertMixUsable, type Engine } from '../engine.js';

/** A mix argument (record or text) as signature strengths; condition ids expand to their signatures. */
export function mixFromArgument(engine: Engine, value: ConditionMix | string, field: string): ConditionMix {
  const info = engine.loaded?.info;
  const text = typeof value === 'string' ? value : Object.entries(value).map(([k, a]) => `${k}=${a}`).join(',') || 'off';
  const mix = normalizeMix(parseMix(text, engine.loaded?.pack.manifest, field));
  if (info) assertMixUsable(mix, info, field);
  return mix;
}

/** Command `setMix`: patch the model with a new mix; the next frame uses it. */
export async function setMix(engine: Engine, args: CommandArgs<'setMix'>): Promise<MixState> {
  await engine.requirePack();
  const mix = mixFromArgument(engine, args.mix, 'mix');
  const ms = await engine.setMix(mix);
  return { mix, key: mixKey(mix), ms };
}
