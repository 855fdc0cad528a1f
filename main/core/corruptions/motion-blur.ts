import type { Random } from '../random.js';
import { clamp01, fromPlanes, motionBlurPlane, planes, sampleBilinear, type Image, type Severity } from './image.js';
import { linear } from './scale.js';

/**
 * Motion blur: CIFAR-10-C `motion_blur`, ImageMagick motion blur with (radius, σ) = (10,1) (10,1.5)
 * (10,2) (10,2.5) (12,3) at an angle drawn from U(-45°, 45°). σ is in pixels of a 32-pixel image and
 * scales with the image's smaller side, so a large photo blurs by the same share of its size.
 */
export const MOTION_BLUR_PARAMS = [
  [10, 1],
  [10, 1.5],
  [10, 2],
  [10, 2.5],
  [12, 3],
] as const;

export function motionBlur(img: Image, severity: Severity, rng: Random): Image {
  return motionBlurWith(img, MOTION_BLUR_PARAMS[severity - 1], rng);
}

/** The blur for one (radius, σ) tuple, in pixels of a 32-pixel image. */
export function motionBlurWith(img: Image, [radius, sigma]: readonly number[], rng: Random): Image {
  const scale = Math.max(1, Math.min(img.width, img.height) / 32);
  const angle = rng.uniform(-45, 45);
  const out = planes(img).map((p) => motionBlurPlane(p, img.width, img.height, radius * scale, sigma * scale, angle));
  const res = fromPlanes(img, out);
  clamp01(res.data);
  return res;
}

/** Line-blur parameters at a strength: a straight kernel 8% (light) to 40% (heavy) of the smaller side. */
export function lineBlurParams(strength: number): { lengthShare: number } {
  return { lengthShare: linear(0.08, 0.4, strength) };
}

/**
 * Motion blur as augmentation libraries make it (albumentations `MotionBlur`): a straight line
 * kernel through the centre at a random angle, the image averaged along it in display values.
 */
export function lineBlur(img: Image, strength: number, rng: Random): Image {
  const { width: w, height: h } = img;
  const len = Math.max(2, lineBlurParams(strength).lengthShare * Math.min(w, h) * rng.uniform(0.75, 1));
  const angle = rng.uniform(0, Math.PI);
  const taps = Math.max(2, Math.round(len));
  const offsets = Array.from({ length: taps }, (_, k) => (k / (taps - 1) - 0.5) * len);
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const out = planes(img).map((p) => {
    const q = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (const o of offsets) s += sampleBilinear(p, w, h, x + o * dx, y + o * dy);
        q[y * w + x] = s / taps;
      }
    }
    return q;
  });
  const res = fromPlanes(img, out);
  clamp01(res.data);
  return res;
}
