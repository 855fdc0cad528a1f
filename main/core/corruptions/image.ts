/** An image as the corruptions see it: HWC float values in 0..1, grey (1 channel) or RGB (3). */
export interface Image {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

export type Severity = 1 | 2 | 3 | 4 | 5;

/** Clamp every value of `data` to 0..1 in place; returns it. */
export function clamp01(data: Float32Array): Float32Array {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    data[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return data;
}

/** Luma of each pixel (ITU-R 601 weights, as OpenCV's RGB2GRAY), one value per pixel. */
export function luma(img: Image): Float32Array {
  const n = img.width * img.height;
  if (img.channels === 1) return Float32Array.from(img.data);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!;
  return out;
}

/** Bilinear sample of a single-channel plane at (x, y), edges clamped. */
export function sampleBilinear(plane: Float32Array, w: number, h: number, x: number, y: number): number {
  const xc = Math.min(Math.max(x, 0), w - 1);
  const yc = Math.min(Math.max(y, 0), h - 1);
  const x0 = Math.floor(xc);
  const y0 = Math.floor(yc);
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const fx = xc - x0;
  const fy = yc - y0;
  const a = plane[y0 * w + x0]! * (1 - fx) + plane[y0 * w + x1]! * fx;
  const b = plane[y1 * w + x0]! * (1 - fx) + plane[y1 * w + x1]! * fx;
  return a * (1 - fy) + b * fy;
}

/**
 * ImageNet-C's `clipped_zoom` for one plane: take the centre 1/zoom of the plane and scale it back
 * up to full size (bilinear, scipy's order=1).
 */
export function clippedZoom(plane: Float32Array, w: number, h: number, zoom: number): Float32Array {
  const cw = Math.ceil(w / zoom);
  const ch = Math.ceil(h / zoom);
  const left = Math.floor((w - cw) / 2);
  const top = Math.floor((h - ch) / 2);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      out[y * w + x] = sampleBilinear(plane, w, h, left + (x + 0.5) / zoom - 0.5, top + (y + 0.5) / zoom - 0.5);
    }
  }
  return out;
}

/**
 * ImageMagick's `-motion-blur radius x sigma + angle` on one plane (as ImageNet-C uses through Wand):
 * a one-sided Gaussian kernel of 2·radius+1 taps laid along `angleDeg`, edge pixels repeated.
 */
export function motionBlurPlane(plane: Float32Array, w: number, h: number, radius: number, sigma: number, angleDeg: number): Float32Array {
  const width = 2 * Math.ceil(radius) + 1;
  const kernel: number[] = [];
  let sum = 0;
  for (let i = 0; i < width; i++) {
    const k = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel.push(k);
    sum += k;
  }
  const a = (angleDeg * Math.PI) / 180;
  const px = Math.sin(a);
  const py = Math.cos(a);
  const offsets = kernel.map((_, i) => [Math.ceil(i * py - 0.5), Math.ceil(i * px - 0.5)] as const);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let i = 0; i < width; i++) {
        const k = kernel[i]!;
        if (k / sum < 1e-7) break;
        const [ox, oy] = offsets[i]!;
        const sx = Math.min(Math.max(x + ox, 0), w - 1);
        const sy = Math.min(Math.max(y + oy, 0), h - 1);
        acc += k * plane[sy * w + sx]!;
      }
      out[y * w + x] = acc / sum;
    }
  }
  return out;
}

/** Box blur of size `k` (odd) on one plane, edges repeated (OpenCV `blur`'s shape; its default border reflects). */
export function boxBlurPlane(plane: Float32Array, w: number, h: number, k: number): Float32Array {
  if (k <= 1) return Float32Array.from(plane);
  const r = Math.floor(k / 2);
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += plane[y * w + Math.min(Math.max(x + d, 0), w - 1)]!;
      tmp[y * w + x] = s / (2 * r + 1);
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += tmp[Math.min(Math.max(y + d, 0), h - 1) * w + x]!;
      out[y * w + x] = s / (2 * r + 1);
    }
  }
  return out;
}

/** Separable Gaussian blur of one plane (σ in pixels; taps to 3σ), edges repeated. */
export function gaussianBlurPlane(plane: Float32Array, w: number, h: number, sigma: number): Float32Array {
  if (!(sigma > 0.05)) return Float32Array.from(plane);
  const r = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const taps = k.map((v) => v / sum);
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += taps[d + r]! * plane[y * w + Math.min(Math.max(x + d, 0), w - 1)]!;
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let d = -r; d <= r; d++) s += taps[d + r]! * tmp[Math.min(Math.max(y + d, 0), h - 1) * w + x]!;
      out[y * w + x] = s;
    }
  }
  return out;
}

/** Split an HWC image into one plane per channel. */
export function planes(img: Image): Float32Array[] {
  const n = img.width * img.height;
  const out: Float32Array[] = [];
  for (let c = 0; c < img.channels; c++) {
    const p = new Float32Array(n);
    for (let i = 0; i < n; i++) p[i] = img.data[i * img.channels + c]!;
    out.push(p);
  }
  return out;
}

/** Join planes back into an HWC image of the same size as `like`. */
export function fromPlanes(like: Image, ps: Float32Array[]): Image {
  const n = like.width * like.height;
  const data = new Float32Array(n * like.channels);
  for (let c = 0; c < like.channels; c++) {
    const p = ps[c]!;
    for (let i = 0; i < n; i++) data[i * like.channels + c] = p[i]!;
  }
  return { width: like.width, height: like.height, channels: like.channels, data };
}
