import type { Random } from '../random.js';
import { clamp01, fromPlanes, motionBlurPlane, planes, type Image, type Severity } from './image.js';

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
