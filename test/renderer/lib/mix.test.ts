import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cleanMix, describeMix, matchingNamedMix, mixFromSettings, mixKey, offSettings, settingsFromMix } from '../../../renderer/src/lib/mix.js';
import type { NamedMix } from '../../../main/api/contract.js';

const conditions: NamedMix[] = [
  { id: 'rain', name: 'Rain', mix: { rain: 1 } },
  { id: 'fog', name: 'Fog', mix: { fog: 1 } },
  { id: 'low-light', name: 'Low light', mix: { 'low-light': 1 } },
  { id: 'dusk', name: 'Dusk', mix: { 'low-light': 0.5, fog: 0.2 } },
];
const mixes: NamedMix[] = [{ id: 'night-rain', name: 'Night rain', mix: { rain: 1, 'low-light': 0.8 } }];

describe('conditions panel mix', () => {
  it('is empty (the clean model) with everything off', () => {
    expect(mixFromSettings(conditions, offSettings(conditions))).toEqual({});
    expect(mixKey({})).toBe('off');
    expect(describeMix({}, conditions)).toBe('Off (clean model)');
  });

  it('sums enabled conditions times their strength, and drops zeros', () => {
    const s = offSettings(conditions);
    s.fog = { on: true, strength: 0.8 };
    s.dusk = { on: true, strength: 1 };
    s.rain = { on: true, strength: 0 };
    expect(mixFromSettings(conditions, s)).toEqual({ fog: 1, 'low-light': 0.5 });
    expect(mixKey({ 'low-light': 0.5, fog: 1 })).toBe('fog=1,low-light=0.5');
  });

  it('gives equal keys to equal mixes despite float noise', () => {
    expect(mixKey({ fog: 0.1 + 0.2 })).toBe('fog=0.3');
    expect(cleanMix({ b: 1, a: 2 })).toEqual({ a: 2, b: 1 });
  });

  it('sets the panel from a named mix and back to the same mix', () => {
    const { settings, rest } = settingsFromMix(conditions, mixes[0]!.mix);
    expect(rest).toEqual({});
    expect(settings.rain).toEqual({ on: true, strength: 1 });
    expect(settings['low-light']).toEqual({ on: true, strength: 0.8 });
    expect(mixFromSettings(conditions, settings)).toEqual({ rain: 1, 'low-light': 0.8 });
    expect(matchingNamedMix({ 'low-light': 0.8, rain: 1 }, mixes)?.id).toBe('night-rain');
    expect(describeMix(mixes[0]!.mix, conditions)).toBe('Low light 80% + Rain 100%');
  });

  it('keeps signatures no single condition covers as the rest', () => {
    expect(settingsFromMix(conditions, { snow: 0.5, fog: 1 }).rest).toEqual({ snow: 0.5 });
  });

  it('round-trips any mix of single-signature conditions', () => {
    const simple = conditions.slice(0, 3);
    fc.assert(
      fc.property(fc.record({ rain: fc.integer({ min: 0, max: 40 }), fog: fc.integer({ min: 0, max: 40 }), 'low-light': fc.integer({ min: 0, max: 40 }) }), (r) => {
        const mix = cleanMix(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v / 20])));
        const { settings, rest } = settingsFromMix(simple, mix);
        expect(rest).toEqual({});
        expect(mixFromSettings(simple, settings)).toEqual(mix);
      }),
    );
  });
});
