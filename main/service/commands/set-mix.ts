import type { CommandArgs, ConditionMix, MixState } from '../../api/contract.js';
import { resolveMix } from '../../engine/packs/pack.js';
import { assertMixUsable, mixKey, normalizeMix, type Engine } from '../engine.js';

/** A mix argument (record or text) as signature strengths; condition ids expand to their signatures. */
export function mixFromArgument(engine: Engine, value: ConditionMix | string, field: string): ConditionMix {
  const info = engine.loaded?.info;
  const text = typeof value === 'string' ? value : Object.entries(value).map(([k, a]) => `${k}=${a}`).join(',') || 'off';
  const mix = normalizeMix(resolveMix(text, engine.loaded?.pack.manifest, field));
  if (info) assertMixUsable(mix, info, field);
  return mix;
}

/** Command `setMix`: patch the model with a new mix; the next frame uses it. */
export async function setMix(engine: Engine, args: CommandArgs<'setMix'>): Promise<MixState> {
  const loaded = await engine.requirePack();
  const mix = mixFromArgument(engine, args.mix, 'mix');
  return engine.exclusive(async () => {
    const t0 = performance.now();
    await engine.survive(loaded, () => loaded.patched.setMix(mix));
    const ms = performance.now() - t0;
    engine.mix = mix;
    engine.publishState();
    return { mix, key: mixKey(mix), ms };
  });
}
