import { RwsError } from '../errors.js';
import { createRandom, mixSeed } from '../random.js';
import { fog } from './fog.js';
import { FAMILIES, familiesOf, findFamily, type Family } from './families.js';
import type { Image, Severity } from './image.js';
import { lowLight } from './low-light.js';
import { motionBlur } from './motion-blur.js';
import { sensorNoise } from './noise.js';
import { rain } from './rain.js';
import { snow } from './snow.js';

export type { Image, Severity } from './image.js';
export { FAMILIES, familiesOf, findFamily, type Family } from './families.js';
export { SOURCES } from './sources.js';

type Corruption = (img: Image, severity: Severity, rng: ReturnType<typeof createRandom>) => Image;

/** A condition the app can simulate; a compound one (foggy night) is its parts, formed in order. */
export interface ConditionInfo {
  id: string;
  name: string;
  parts?: readonly string[];
}

/** The conditions the app can simulate, by id, in the order the UI lists them. */
export const CONDITIONS: ConditionInfo[] = [
  { id: 'rain', name: 'Rain' },
  { id: 'fog', name: 'Fog' },
  { id: 'low-light', name: 'Low light' },
  { id: 'snow', name: 'Snow' },
  { id: 'noise', name: 'Sensor noise' },
  { id: 'motion-blur', name: 'Motion blur' },
  { id: 'foggy-night', name: 'Foggy night', parts: ['fog', 'low-light'] },
  { id: 'night-rain', name: 'Night rain', parts: ['rain', 'low-light'] },
];

const BY_ID: Record<string, Corruption> = {
  rain,
  fog,
  'low-light': lowLight,
  snow,
  noise: sensorNoise,
  'motion-blur': motionBlur,
};

/** A condition and, after a `/`, one of its families: `fog`, `fog/physical`. */
export function parseCorruption(key: string): { condition: string; family: Family } {
  const [condition = '', familyId] = key.split('/');
  if (!CONDITIONS.some((c) => c.id === condition)) {
    throw new RwsError('usage-condition', `unknown condition "${condition}" (one of ${CONDITIONS.map((c) => c.id).join(', ')})`, { field: 'condition' });
  }
  const families = familiesOf(condition);
  const family = familyId === undefined ? families[0] : findFamily(condition, familyId);
  if (!family) {
    throw new RwsError('usage-family', `unknown family "${familyId}" of ${condition} (one of ${families.map((f) => f.id).join(', ')})`, { field: 'family' });
  }
  return { condition, family };
}

/**
 * Apply a condition (`fog`, or `fog/physical` for one of its families; the default family without
 * one) at a strength from 1 (light) to 5 (heavy) to `img`: pure, a new image, the same result for
 * the same seed. The default family at an integer strength is the first generators' exact output.
 */
export function corrupt(img: Image, corruption: string, strength: number, seed: number): Image {
  const { condition, family } = parseCorruption(corruption);
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < 1 || strength > 5) {
    throw new RwsError('usage-severity', `strength must be a number from 1 (light) to 5 (heavy), got ${strength}`, { field: 'severity' });
  }
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new RwsError('image-shape', `image data has ${img.data.length} values, expected ${img.width}×${img.height}×${img.channels}`, { field: 'data' });
  }
  const cid = CONDITIONS.findIndex((c) => c.id === condition);
  if (family.legacy && Number.isInteger(strength)) return BY_ID[condition]!(img, strength as Severity, createRandom(mixSeed(seed, cid, strength)));
  const fid = FAMILIES.indexOf(family);
  return family.apply(img, strength, createRandom(mixSeed(seed, cid, 100 + fid, Math.round(strength * 1000))));
}
