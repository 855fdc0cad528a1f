/**
 * Physical generator families: each condition made the way it forms, in linear light, with its
 * strength (1 light … 3 moderate … 5 heavy, continuous) set by the physics rather than by what a
 * model loses. Sources in sources.ts. Images are display values (gamma 2.2) in 0..1; every family
 * goes to linear light, forms the condition there and comes back.
 */
import type { Random } from '../random.js';
import { plasmaFractal } from './fog.js';
import { clamp01, gaussianBlurPlane, planes, type Image } from './image.js';
import { geometric, linear } from './scale.js';

const GAMMA = 2.2;
/** Display value (gamma 2.2) to linear light, and back. */
export const toLinear = (v: number): number => (v <= 0 ? 0 : v ** GAMMA);
export const toDisplay = (v: number): number => (v <= 0 ? 0 : v >= 1 ? 1 : v ** (1 / GAMMA));

/** A smooth random field in 0..1 over the image (ImageNet-C's plasma fractal, cropped). */
function smoothField(w: number, h: number, decay: number, rng: Random): Float32Array {
  let size = 2;
  while (size < Math.max(w, h)) size *= 2;
  const f = plasmaFractal(size, decay, rng);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = f[y * size + x]!;
  return out;
}

/**
 * Relative scene depth in 0..1 (1 = the far end): a ground plane receding towards the top of the
 * frame, tilted at random, with smooth random relief. An image with no depth map gets this one.
 */
function sceneDepth(w: number, h: number, rng: Random, near: number): Float32Array {
  const relief = smoothField(w, h, 2, rng);
  const tilt = rng.uniform(-0.3, 0.3);
  const reliefShare = rng.uniform(0.15, 0.4);
  const d = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const ramp = 1 - (y + 0.5) / h + tilt * ((x + 0.5) / w - 0.5);
      const v = (1 - reliefShare) * ramp + reliefShare * relief[y * w + x]!;
      d[y * w + x] = near + (1 - near) * Math.min(1, Math.max(0, v));
    }
  }
  return d;
}

/** Fog parameters at a strength: transmission at the far end, 0.9 (light haze) to 0.1 (dense fog). */
export function fogPhysicalParams(strength: number): { farTransmission: number; airlight: [number, number]; near: [number, number] } {
  return { farTransmission: geometric(0.9, 0.1, strength), airlight: [0.7, 0.95], near: [0.35, 0.75] };
}

/**
 * Fog by the atmospheric scattering model: I = J·t + A·(1−t), t = exp(−β·d), with β set so the
 * far end of the scene keeps `farTransmission` (t_far = exp(−β)) and the near end (depth drawn in
 * `near`) keeps more. A bright, grey airlight A. In linear light.
 */
export function fogPhysical(img: Image, strength: number, rng: Random): Image {
  const p = fogPhysicalParams(strength);
  const beta = -Math.log(p.farTransmission);
  const depth = sceneDepth(img.width, img.height, rng, rng.uniform(...p.near));
  const airlight = toLinear(rng.uniform(...p.airlight));
  const c = img.channels;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < depth.length; i++) {
    const t = Math.exp(-beta * depth[i]!);
    for (let k = 0; k < c; k++) data[i * c + k] = toDisplay(toLinear(img.data[i * c + k]!) * t + airlight * (1 - t));
  }
  return { ...img, data: clamp01(data) };
}

/**
 * Low-light parameters at a strength: exposure cut by 2 (light) to 6 (heavy) stops; a sensor of
 * 2,000–8,000 e⁻ full well (a phone to a small industrial camera); the camera's gain makes up none
 * to three quarters of the lost stops (auto-ISO at night), amplifying the noise with the signal.
 */
export function lowLightPhysicalParams(strength: number): { stops: number; fullWell: [number, number]; readNoise: [number, number]; gainShare: [number, number] } {
  return { stops: linear(2, 6, strength), fullWell: [2000, 8000], readNoise: [2, 6], gainShare: [0, 0.75] };
}

/**
 * Low light by noise formation: linear light; the exposure cut by `stops`; photo-electrons with
 * Poisson shot noise (a full well drawn log-uniformly in `fullWell`, e⁻ at white before the cut);
 * Gaussian read noise (e⁻); the camera's gain making up a random share of the lost stops (noise
 * amplified with the signal); clipped; display gamma; 8-bit quantisation.
 */
export function lowLightPhysical(img: Image, strength: number, rng: Random): Image {
  const p = lowLightPhysicalParams(strength);
  const exposure = 2 ** -p.stops;
  const gain = 2 ** (p.stops * rng.uniform(...p.gainShare));
  const read = rng.uniform(...p.readNoise);
  const fullWell = Math.exp(rng.uniform(Math.log(p.fullWell[0]), Math.log(p.fullWell[1])));
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) {
    const electrons = rng.poisson(toLinear(img.data[i]!) * exposure * fullWell) + rng.normal(0, read);
    data[i] = Math.round(toDisplay((gain * electrons) / fullWell) * 255) / 255;
  }
  return { ...img, data: clamp01(data) };
}

/** Sensor-noise parameters at a strength: photo-electrons at white, 2000 (light) to 20 (heavy). */
export function noisePhysicalParams(strength: number): { fullWell: number; readNoise: [number, number] } {
  return { fullWell: geometric(2000, 20, strength), readNoise: [1, 4] };
}

/**
 * Sensor noise at a normal exposure (a small sensor at high gain): Poisson shot noise for
 * `fullWell` e⁻ at white and Gaussian read noise, in linear light; display gamma; 8 bits.
 */
export function noisePhysical(img: Image, strength: number, rng: Random): Image {
  const p = noisePhysicalParams(strength);
  const read = rng.uniform(...p.readNoise);
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) {
    const electrons = rng.poisson(toLinear(img.data[i]!) * p.fullWell) + rng.normal(0, read);
    data[i] = Math.round(toDisplay(electrons / p.fullWell) * 255) / 255;
  }
  return { ...img, data: clamp01(data) };
}

/** Splat `v` at (x, y) into a w×h plane with bilinear weights, keeping the largest value. */
function splatMax(plane: Float32Array, w: number, h: number, x: number, y: number, v: number): void {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const put = (px: number, py: number, wgt: number) => {
    if (px < 0 || py < 0 || px >= w || py >= h) return;
    const i = py * w + px;
    const a = v * wgt;
    if (a > plane[i]!) plane[i] = a;
  };
  put(x0, y0, (1 - fx) * (1 - fy));
  put(x0 + 1, y0, fx * (1 - fy));
  put(x0, y0 + 1, (1 - fx) * fy);
  put(x0 + 1, y0 + 1, fx * fy);
}

/** Rain parameters at a strength: rain rate 1 (light) to 100 mm/h (heavy), and what follows from it. */
export function rainPhysicalParams(strength: number): { rate: number; streaksPer100px: number; veil: number; scatterBlur: number; length: [number, number]; brightness: [number, number]; wind: number; dimming: [number, number] } {
  const rate = geometric(1, 100, strength);
  const veil = Math.exp(-0.03 * rate ** 0.67);
  return {
    rate,
    // Drops in view grow with the rain rate (Marshall–Palmer: number density ∝ R^0.21, fall volume ∝ R); streaks seen ∝ √R here.
    streaksPer100px: 0.3 + 0.35 * Math.sqrt(rate),
    // Transmission of the accumulated rain in front of the scene: exp(−0.03·R^0.67): 0.97 at 1 mm/h, 0.52 at 100.
    veil,
    // Forward scattering by the drops blurs the scene behind them in proportion to the light scattered
    // (σ in pixels of a 32-pixel frame): 0.06 at 1 mm/h, about 1 at 100.
    scatterBlur: 2 * (1 - veil),
    length: [0.1, linear(0.2, 0.45, strength)],
    brightness: [0.25, 0.7],
    wind: 30,
    dimming: [0.75, 1],
  };
}

/**
 * Rain as Li et al.'s heavy-rain model: I = T·(J + ΣS) + (1−T)·A. J is dimmed by an overcast sky and
 * blurred by the light the drops scatter forward;
 * streaks S in two depth layers (near: longer, brighter, wider) at the frame's wind angle (±`wind`°)
 * with a few degrees of spread, lengths shares of the frame height; T the veil of accumulated rain;
 * A a grey airlight. In linear light.
 */
export function rainPhysical(img: Image, strength: number, rng: Random): Image {
  const p = rainPhysicalParams(strength);
  const { width: w, height: h, channels: c } = img;
  const streaks = new Float32Array(w * h);
  const wind = (rng.uniform(-p.wind, p.wind) * Math.PI) / 180;
  const count = Math.round((p.streaksPer100px * w * h) / 100);
  const scale = Math.max(1, h / 64);
  for (let s = 0; s < count; s++) {
    const near = rng.next() < 0.3;
    const angle = wind + rng.normal(0, (4 * Math.PI) / 180);
    const len = rng.uniform(p.length[0], p.length[1]) * h * (near ? 1.4 : 0.8);
    const bright = rng.uniform(...p.brightness) * (near ? 1 : 0.6);
    const width = (near ? 1.5 : 1) * scale;
    const x0 = rng.uniform(-0.2 * w, 1.2 * w);
    const y0 = rng.uniform(-len, h);
    const dx = Math.sin(angle);
    const dy = Math.cos(angle);
    const steps = Math.ceil(len * 2);
    for (let t = 0; t <= steps; t++) {
      // Brightest in the middle of the streak (the drop's exposure), fading at both ends.
      const along = t / steps;
      const v = bright * Math.sin(Math.PI * along);
      for (let k = 0; k < width; k++) splatMax(streaks, w, h, x0 + dx * along * len + k * dy, y0 + dy * along * len - k * dx, v);
    }
  }
  const veil = p.veil;
  const airlight = toLinear(rng.uniform(0.7, 0.9));
  const dim = rng.uniform(...p.dimming);
  const sigma = p.scatterBlur * Math.max(1, Math.min(w, h) / 32);
  const scene = planes(img).map((pl) => gaussianBlurPlane(Float32Array.from(pl, toLinear), w, h, sigma));
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < w * h; i++) {
    const s = streaks[i]!;
    for (let k = 0; k < c; k++) {
      const j = scene[k]![i]! * dim;
      data[i * c + k] = toDisplay(veil * Math.min(1, j + s) + (1 - veil) * airlight);
    }
  }
  return { ...img, data: clamp01(data) };
}

/** Snow parameters at a strength: visibility 2 km (light) to 100 m (heavy), flakes in proportion. */
export function snowPhysicalParams(strength: number): { visibilityM: number; distanceM: [number, number]; veil: number; flakesPer100px: number; radius: [number, number]; opacity: [number, number] } {
  const visibilityM = geometric(2000, 100, strength);
  return {
    visibilityM,
    // The scene's distance, drawn log-uniformly per image: a close object to the far side of a street.
    distanceM: [8, 60],
    // Koschmieder: t = exp(−3.912·d / V), here at d = 25 m: 0.95 at 2 km, 0.38 at 100 m (0.1 to 0.98 over the distances).
    veil: Math.exp((-3.912 * 25) / visibilityM),
    flakesPer100px: linear(0.8, 6, strength),
    radius: [0.3, linear(0.8, 1.6, strength)],
    opacity: [0.5, 1],
  };
}

/**
 * Snowfall: the scene, at a distance drawn per image, behind a veil of falling snow (Koschmieder's
 * transmission for the visibility and that distance) under a bright airlight, then flakes of varied size and opacity, each a soft disc
 * smeared a little along the fall direction. In linear light.
 */
export function snowPhysical(img: Image, strength: number, rng: Random): Image {
  const p = snowPhysicalParams(strength);
  const { width: w, height: h, channels: c } = img;
  const distance = Math.exp(rng.uniform(Math.log(p.distanceM[0]), Math.log(p.distanceM[1])));
  const veil = Math.exp((-3.912 * distance) / p.visibilityM);
  const scale = Math.max(1, h / 32);
  const flakes = new Float32Array(w * h);
  const fall = (rng.uniform(-25, 25) * Math.PI) / 180;
  const count = Math.round((p.flakesPer100px * w * h) / 100);
  for (let f = 0; f < count; f++) {
    // Many small flakes, few large ones.
    const r = (p.radius[0] + (p.radius[1] - p.radius[0]) * rng.next() ** 2) * scale;
    const a = rng.uniform(...p.opacity);
    const cx = rng.uniform(0, w);
    const cy = rng.uniform(0, h);
    const smear = rng.uniform(0, 2) * r;
    const reach = Math.ceil(r + smear + 1);
    for (let y = Math.max(0, Math.floor(cy - reach)); y < Math.min(h, cy + reach); y++) {
      for (let x = Math.max(0, Math.floor(cx - reach)); x < Math.min(w, cx + reach); x++) {
        // Distance to the segment the flake falls along during the exposure.
        const px = x + 0.5 - cx;
        const py = y + 0.5 - cy;
        const along = Math.max(0, Math.min(smear, px * Math.sin(fall) + py * Math.cos(fall)));
        const d = Math.hypot(px - along * Math.sin(fall), py - along * Math.cos(fall));
        const v = a * Math.min(1, Math.max(0, r + 0.5 - d));
        if (v > flakes[y * w + x]!) flakes[y * w + x] = v;
      }
    }
  }
  const airlight = toLinear(rng.uniform(0.8, 0.95));
  const flakeLight = toLinear(rng.uniform(0.9, 1));
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < w * h; i++) {
    const o = flakes[i]!;
    for (let k = 0; k < c; k++) {
      const behind = toLinear(img.data[i * c + k]!) * veil + airlight * (1 - veil);
      data[i * c + k] = toDisplay(behind * (1 - o) + flakeLight * o);
    }
  }
  return { ...img, data: clamp01(data) };
}

/** Camera-shake parameters at a strength: trajectory length, 4% (light) to 30% (heavy) of the smaller side. */
export function shakePhysicalParams(strength: number): { lengthShare: number; inertia: [number, number]; shakeChance: number } {
  return { lengthShare: geometric(0.04, 0.3, strength), inertia: [0.6, 0.95], shakeChance: 0.05 };
}

/**
 * Motion blur from camera shake (Boracchi & Foi): a random trajectory (velocity with inertia,
 * Gaussian jitter and rare impulsive jerks) of the given length, rasterised into a kernel that
 * averages the scene over the exposure, applied in linear light.
 */
export function motionBlurPhysical(img: Image, strength: number, rng: Random): Image {
  const p = shakePhysicalParams(strength);
  const { width: w, height: h, channels: c } = img;
  const total = p.lengthShare * Math.min(w, h);
  const inertia = rng.uniform(...p.inertia);
  const steps = Math.max(16, Math.ceil(total * 8));
  const stepLen = total / steps;
  let angle = rng.uniform(0, 2 * Math.PI);
  let vx = Math.cos(angle);
  let vy = Math.sin(angle);
  let x = 0;
  let y = 0;
  const path: [number, number][] = [[0, 0]];
  for (let s = 0; s < steps; s++) {
    const jerk = rng.next() < p.shakeChance ? 1.5 : 0.35;
    vx = inertia * vx + (1 - inertia) * rng.normal(0, 1) * jerk * 2;
    vy = inertia * vy + (1 - inertia) * rng.normal(0, 1) * jerk * 2;
    const n = Math.hypot(vx, vy) || 1;
    x += (vx / n) * stepLen;
    y += (vy / n) * stepLen;
    path.push([x, y]);
  }
  // Centre the trajectory so the blurred image does not shift.
  const mx = path.reduce((s, q) => s + q[0], 0) / path.length;
  const my = path.reduce((s, q) => s + q[1], 0) / path.length;
  const reach = Math.ceil(Math.max(...path.map(([a, b]) => Math.max(Math.abs(a - mx), Math.abs(b - my))))) + 1;
  const size = 2 * reach + 1;
  const kernel = new Float32Array(size * size);
  for (const [a, b] of path) {
    const kx = a - mx + reach;
    const ky = b - my + reach;
    const x0 = Math.floor(kx);
    const y0 = Math.floor(ky);
    const fx = kx - x0;
    const fy = ky - y0;
    kernel[y0 * size + x0] = kernel[y0 * size + x0]! + (1 - fx) * (1 - fy);
    if (x0 + 1 < size) kernel[y0 * size + x0 + 1] = kernel[y0 * size + x0 + 1]! + fx * (1 - fy);
    if (y0 + 1 < size) kernel[(y0 + 1) * size + x0] = kernel[(y0 + 1) * size + x0]! + (1 - fx) * fy;
    if (x0 + 1 < size && y0 + 1 < size) kernel[(y0 + 1) * size + x0 + 1] = kernel[(y0 + 1) * size + x0 + 1]! + fx * fy;
  }
  const taps: [number, number, number][] = [];
  let sum = 0;
  for (let i = 0; i < kernel.length; i++) if (kernel[i]! > 0) sum += kernel[i]!;
  for (let i = 0; i < kernel.length; i++) if (kernel[i]! > 0) taps.push([(i % size) - reach, Math.floor(i / size) - reach, kernel[i]! / sum]);
  const lin = Float32Array.from(img.data, toLinear);
  const data = new Float32Array(img.data.length);
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (const [dx, dy, wt] of taps) {
          // Edges repeat (a camera sees the scene beyond the frame; this is the nearest guess).
          const sx = Math.min(w - 1, Math.max(0, px + dx));
          const sy = Math.min(h - 1, Math.max(0, py + dy));
          acc += wt * lin[(sy * w + sx) * c + k]!;
        }
        data[(py * w + px) * c + k] = toDisplay(acc);
      }
    }
  }
  return { ...img, data: clamp01(data) };
}
