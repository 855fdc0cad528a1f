import { describe, expect, it } from 'vitest';
import { MAX_INPUT_SIDE } from '../../../main/core/limits.js';
import { checkInputSpec, type InputSpec } from '../../../main/engine/packs/input-spec.js';
import { flagName } from '../../../main/engine/packs/presets.js';

const spec: InputSpec = { name: 'input', layout: 'NCHW', width: 224, height: 224, channels: 3, colorSpace: 'rgb', range: [0, 1], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'cover', shorterSide: 256 };

/** The refusal of `s` as flags of `rws run --model` give it, or 'accepted'. */
function refusal(s: InputSpec): string {
  try {
    checkInputSpec(s, 'rws run --model', (field) => `--${flagName(field)}`);
    return 'accepted';
  } catch (e) {
    return (e as Error).message;
  }
}

describe('checkInputSpec', () => {
  it('holds a spec made from flags to the limits pack.json has, naming the flag', () => {
    expect(refusal(spec)).toBe('accepted');
    expect(refusal({ ...spec, std: [0] })).toMatch(/^rws run --model: field "--std": /);
    expect(refusal({ ...spec, mean: [1e308] })).toMatch(/^rws run --model: field "--mean": /);
    expect(refusal({ ...spec, range: [0, 1e300] })).toMatch(/^rws run --model: field "--range": /);
    expect(refusal({ ...spec, shorterSide: MAX_INPUT_SIDE + 1 })).toMatch(/^rws run --model: field "--shorter-side": .*at most 4096 pixels/);
  });

  it('refuses a spec at odds with itself: grey with 3 channels, a 0-255 mean with a 0-1 range, a crop larger than its side', () => {
    expect(refusal({ ...spec, colorSpace: 'grey' })).toMatch(/field "--color-space": "grey" with 3 channels/);
    expect(refusal({ ...spec, mean: [123.7, 116.3, 103.5] })).toMatch(/field "--mean": .* is in 0-255 units but --range is \[0, 1\]/);
    expect(refusal({ ...spec, shorterSide: 200 })).toMatch(/field "--shorter-side": 200 is smaller than the 224×224 crop/);
  });
});
