// Fixtures for the auto condition tests: Fashion-MNIST-like items drawn by code (a bright textured
// shape on a black 28×28 background), so that the tests need no dataset.
import { trainClassifier, type ConditionClass, type ConditionClassifier } from '../../../main/core/auto-classifier.js';
import { conditionFeatures, FEATURES_VERSION } from '../../../main/core/condition-features.js';
import { corrupt, type Image, type Severity } from '../../../main/core/corruptions/index.js';
import { createRandom, mixSeed } from '../../../main/core/random.js';

/** `n` items: ellipses and boxes of random size, brightness and stripes, in grey, 28×28. */
export function syntheticItems(n: number, seed: number, size = 28): Image[] {
  const rng = createRandom(seed);
  const out: Image[] = [];
  for (let k = 0; k < n; k++) {
    const data = new Float32Array(size * size);
    const cx = size / 2 + rng.uniform(-3, 3);
    const cy = size / 2 + rng.uniform(-3, 3);
    const rx = rng.uniform(0.2, 0.42) * size;
    const ry = rng.uniform(0.25, 0.45) * size;
    const box = rng.next() < 0.5;
    const level = rng.uniform(0.45, 1);
    const stripe = rng.uniform(0, 0.3);
    const period = rng.uniform(2, 6);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const dx = (x - cx) / rx;
        const dy = (y - cy) / ry;
        const inside = box ? Math.abs(dx) < 1 && Math.abs(dy) < 1 : dx * dx + dy * dy < 1;
        if (inside) data[y * size + x] = Math.min(1, level * (1 - stripe * (0.5 + 0.5 * Math.sin((2 * Math.PI * y) / period))));
      }
    }
    // Fashion-MNIST items are scaled so their brightest pixel is white.
    let max = 0;
    for (const v of data) max = Math.max(max, v);
    for (let i = 0; i < data.length; i++) data[i] = data[i]! / max;
    out.push({ width: size, height: size, channels: 1, data });
  }
  return out;
}

export const TEST_CONDITIONS = ['rain', 'fog', 'low-light', 'snow', 'noise', 'motion-blur'];

/** Clean and every test condition at severities 2–4. */
export function testClasses(): ConditionClass[] {
  const out: ConditionClass[] = [{ condition: 'clean', severity: 0 }];
  for (const c of TEST_CONDITIONS) for (const s of [2, 3, 4]) out.push({ condition: c, severity: s });
  return out;
}

/** `item` under its class (clean stays as it is). */
export function applyClass(item: Image, cl: ConditionClass, seed: number): Image {
  return cl.condition === 'clean' ? item : corrupt(item, cl.condition, cl.severity as Severity, seed);
}

let cached: ConditionClassifier | undefined;

/** A classifier trained on synthetic items (about a second; cached per test file). */
export function smallClassifier(): ConditionClassifier {
  if (cached) return cached;
  const classes = testClasses();
  const items = syntheticItems(300, 1);
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  classes.forEach((cl, k) => {
    const count = cl.condition === 'clean' ? 240 : 60;
    for (let i = 0; i < count; i++) {
      xs.push(conditionFeatures(applyClass(items[(k * 37 + i) % items.length]!, cl, mixSeed(5, k, i))));
      ys.push(k);
    }
  });
  cached = trainClassifier(xs, ys, classes, FEATURES_VERSION, { epochs: 40 });
  return cached;
}
