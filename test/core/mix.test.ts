import { describe, expect, it } from 'vitest';
import { mixKey, normalizeMix } from '../../main/core/mix.js';

describe('normalizeMix', () => {
  it('drops zero strengths and sorts ids', () => {
    const m = normalizeMix({ 'low-light': 1, fog: 0.8, rain: 0, snow: -0 });
    expect(Object.keys(m)).toEqual(['fog', 'low-light']);
    expect(m).toEqual({ fog: 0.8, 'low-light': 1 });
  });
  it('keeps negative strengths', () => {
    expect(normalizeMix({ fog: -0.5 })).toEqual({ fog: -0.5 });
  });
  it('refuses a strength that is not a finite number, naming the id', () => {
    expect(() => normalizeMix({ fog: NaN })).toThrow(/"fog" is NaN/);
    expect(() => normalizeMix({ fog: Infinity })).toThrow(/"fog"/);
  });
});

describe('mixKey', () => {
  it('is canonical text', () => {
    expect(mixKey({ 'low-light': 1, fog: 0.8 })).toBe('fog=0.8,low-light=1');
    expect(mixKey({ fog: 0.8, 'low-light': 1, rain: 0 })).toBe('fog=0.8,low-light=1');
  });
  it('says off for an empty or all-zero mix', () => {
    expect(mixKey({})).toBe('off');
    expect(mixKey({ fog: 0 })).toBe('off');
  });
});
