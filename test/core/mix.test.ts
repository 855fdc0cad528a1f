import { describe, expect, it } from 'vitest';
import { checkStrength, mixKey, normalizeMix, parseMix, ranUnderKey, splitRanUnder, type MixVocabulary } from '../../main/core/mix.js';

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
  it('writes a strength as the decimal it stands for, the same key the app shows', () => {
    expect(mixKey({ fog: 0.1 + 0.2 })).toBe('fog=0.3');
    expect(mixKey({ fog: 1 / 3 })).toBe('fog=0.333333333333');
    expect(mixKey({ fog: 1e-7 })).toBe('fog=1e-7');
  });
});

describe('parseMix', () => {
  const pack: MixVocabulary = {
    id: 'p',
    signatures: [{ id: 'fog' }, { id: 'low-light' }],
    conditions: [{ id: 'night', mix: { 'low-light': 0.5 } }],
    mixes: [{ id: 'foggy-night', mix: { fog: 0.8, 'low-light': 1 } }],
  };
  it('reads off, named mixes, conditions and ID=α lists', () => {
    expect(parseMix(' off ', pack)).toEqual({});
    expect(parseMix('', undefined)).toEqual({});
    expect(parseMix('foggy-night', pack)).toEqual({ fog: 0.8, 'low-light': 1 });
    expect(parseMix('fog=0.5, night=2', pack)).toEqual({ fog: 0.5, 'low-light': 1 });
    expect(parseMix('fog,fog=0.25', pack)).toEqual({ fog: 1.25 });
    expect(parseMix('Anything=1e-1', undefined)).toEqual({ anything: 0.1 });
  });
  it('refuses bad syntax and ids the pack does not know, naming the source', () => {
    expect(() => parseMix('fog=abc', pack, 'mix')).toThrow(/^mix: "fog=abc" is not ID=STRENGTH/);
    expect(() => parseMix('hail=1', pack)).toThrow(/"hail" is not a signature, condition or mix of pack "p" \(known: fog, low-light, foggy-night\)/);
  });
  it('holds every strength to one range, as written and as summed per signature, whatever the form', () => {
    for (const text of ['fog=5', 'fog=-4.5', 'fog=1e308', 'fog=1e999', 'fog=3,fog=3', 'night=10']) {
      expect(() => parseMix(text, pack, 'mix'), text).toThrow(/^mix: strength of "(fog|low-light|night)" is [-0-9.e+Infity]+; strengths go from -4 to 4$/);
    }
    expect(() => parseMix('fog=1e308', undefined)).toThrow(expect.objectContaining({ code: 'mix-range' }));
    expect(parseMix('fog=4,low-light=-4', pack)).toEqual({ fog: 4, 'low-light': -4 });
    expect(() => checkStrength('fog', NaN, '--signature')).toThrow(/--signature: strength of "fog" is NaN/);
  });
  it('keeps ids to their own entries (no id reaches Object.prototype)', () => {
    const m = parseMix('constructor=1,tostring=2', undefined);
    expect(Object.keys(m)).toEqual(['constructor', 'tostring']);
    expect(m.constructor).toBe(1);
  });
});

describe('ranUnderKey and splitRanUnder', () => {
  it('write a hedge as `a | b` and read it back; a single mix stays as it is', () => {
    expect(ranUnderKey({ fog: 1 }, { rain: 0.75, 'low-light': 0.5 })).toBe('fog=1 | low-light=0.5,rain=0.75');
    expect(splitRanUnder(ranUnderKey({ fog: 1 }, { rain: 0.75 }))).toEqual({ mix: 'fog=1', blend: 'rain=0.75' });
    expect(splitRanUnder(ranUnderKey({ fog: 1 }))).toEqual({ mix: 'fog=1' });
    expect(splitRanUnder('off')).toEqual({ mix: 'off' });
  });
});
