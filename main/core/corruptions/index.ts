import { RwsError } from '../errors.js';
import { createRandom, mixSeed } from '../random.js';
import { fog } from './fog.js';
import type { Image, Severity } from './image.js';
import { lowLight } from './low-light.js';
import { motionBlur } from './motion-blur.js';
import { sensorNoise } from './noise.js';
import { rain } from './rain.js';
import { snow } from './snow.js';

export type { Image, Severity } from './image.js';

type Corruption = (img: Image, severity: Severity, rng: ReturnType<typeof createRandom>) => Image;

/** The conditions the app can simulate, by id, in the order the UI lists them. */
export const CONDITIONS: { id: string; name: string }[] = [
  { id: 'rain', name: 'Rain' },
  { id: 'fog', name: 'Fog' },
  { id: 'low-light', name: 'Low light' },
  { id: 'snow', name: 'Snow' },
  { id: 'noise', name: 'Sensor noise' },
  { id: 'motion-blur', name: 'Motion blur' },
];

const BY_ID: Record<string, Corruption> = {
  rain,
  fog,
  'low-light': lowLight,
  snow,
  noise: sensorNoise,
  'motion-blur': motionBlur,
};

/** Apply `condition` at `severity` (1–5) to `img`: pure, a new image, same result for the same seed. */
export function corrupt(img: Image, condition: string, severity: Severity, seed: number): Image {
  const fn = BY_ID[condition];
  if (!fn) {
    throw new RwsError('usage-condition', `unknown condition "${condition}" (one of ${CONDITIONS.map((c) => c.id).join(', ')})`, { field: 'condition' });
  }
  if (!Number.isInteger(severity) || severity < 1 || severity > 5) {
    throw new RwsError('usage-severity', `severity must be an integer 1–5, got ${severity}`, { field: 'severity' });
  }
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new RwsError('image-shape', `image data has ${img.data.length} values, expected ${img.width}×${img.height}×${img.channels}`, { field: 'data' });
  }
  const cid = CONDITIONS.findIndex((c) => c.id === condition);
  return fn(img, severity, createRandom(mixSeed(seed, cid, severity)));
}
