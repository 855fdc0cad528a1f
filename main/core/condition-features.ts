// Cheap statistics of one image that tell the weather apart, for the auto condition classifier.
// They are computed on the image the model sees (its input size), in a handful of passes over the
// luma plane, so that a camera frame pays microseconds, not another inference. Each feature answers
// one question a person would ask of the picture:
//   brightness and its spread, how dark the darks are and how bright the brights (low light, fog,
//   rain's dimming); the histogram (fog lifts the floor, snow fills the top); the frame's border,
//   which is background on most items (fog, snow, rain show there first); fine-scale noise measured
//   robustly (median of |Laplacian|) and in the flat dark areas (sensor noise, low light's shot
//   noise); gradient energy at two scales and its ratio (blur removes the fine scale); the
//   structure tensor's coherence and orientation (motion blur and rain streaks have one direction);
//   the high-pass autocorrelation along rows, columns and diagonals (streaks and blur stretch it
//   one way); isolated bright specks (snow flakes).
import type { Image } from './corruptions/image.js';
import { luma } from './corruptions/image.js';

/** Bumped whenever a feature changes meaning, so that a classifier trained on older features is refused. */
export const FEATURES_VERSION = 'cf/1';

/** Feature names in the order `conditionFeatures` returns them. */
export const FEATURE_NAMES: readonly string[] = [
  'mean',
  'log-std',
  'p01',
  'p10',
  'p50',
  'p90',
  'p99',
  'max',
  'dark-share',
  'bright-share',
  'hist-0',
  'hist-1',
  'hist-2',
  'hist-3',
  'hist-4',
  'hist-5',
  'hist-6',
  'hist-7',
  'border-mean',
  'border-log-std',
  'log-lap-median',
  'log-lap-mean',
  'log-lap-dark',
  'log-grad',
  'log-grad-half',
  'grad-ratio',
  'coherence',
  'orient-cos',
  'orient-sin',
  'ac-row',
  'ac-col',
  'ac-diag',
  'ac-anti',
  'ac-row2',
  'ac-col2',
  'ac-spread',
  'specks',
  'zero-share',
];

const EPS = 1e-4;

/** Nearest-rank percentile from a 256-bin histogram of values in 0..1 (bin centre). */
function histPercentile(hist: Uint32Array, total: number, p: number): number {
  const target = p * total;
  let acc = 0;
  for (let b = 0; b < hist.length; b++) {
    acc += hist[b]!;
    if (acc >= target) return (b + 0.5) / hist.length;
  }
  return 1;
}

/** Largest side the features look at: bigger images are area-averaged down by a whole factor first. */
export const FEATURE_MAX_SIDE = 96;

/** The luma plane the features are computed on (grey data used as is; big images reduced). */
function lumaPlane(img: Image): { plane: Float32Array; w: number; h: number } {
  const f = Math.max(1, Math.floor(Math.max(img.width, img.height) / FEATURE_MAX_SIDE));
  const grey = img.channels === 1 ? img.data : luma(img);
  if (f === 1) return { plane: grey, w: img.width, h: img.height };
  const w = Math.floor(img.width / f);
  const h = Math.floor(img.height / f);
  const plane = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let dy = 0; dy < f; dy++) {
        const row = (y * f + dy) * img.width + x * f;
        for (let dx = 0; dx < f; dx++) s += grey[row + dx]!;
      }
      plane[y * w + x] = s / (f * f);
    }
  }
  return { plane, w, h };
}

// Scratch buffers reused across calls: a camera calls this every frame, and garbage collection of
// per-call arrays cost as much as the features themselves.
const hist = new Uint32Array(256);
const lapHist = new Uint32Array(256);
let scratchH = new Float32Array(0);
let scratchHalf = new Float32Array(0);

/** The feature vector of one image (HWC, values 0..1); length `FEATURE_NAMES.length`. */
export function conditionFeatures(img: Image): Float32Array {
  const { plane: L, w, h } = lumaPlane(img);
  const n = w * h;
  const out = new Float32Array(FEATURE_NAMES.length);

  // Intensity statistics.
  hist.fill(0);
  let sum = 0;
  let sum2 = 0;
  let max = 0;
  let dark = 0;
  let bright = 0;
  let zeros = 0;
  for (let i = 0; i < n; i++) {
    const v = L[i]!;
    sum += v;
    sum2 += v * v;
    if (v > max) max = v;
    if (v < 0.05) dark++;
    if (v > 0.9) bright++;
    if (v < 0.5 / 255) zeros++;
    hist[Math.min(255, Math.max(0, Math.floor(v * 256)))]!++;
  }
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
  const coarse = new Float32Array(8);
  for (let b = 0; b < 256; b++) coarse[b >> 5]! += hist[b]!;

  // Border ring, two pixels wide (or one on tiny images).
  const ring = Math.max(1, Math.min(2, Math.floor(Math.min(w, h) / 8)));
  let bs = 0;
  let bs2 = 0;
  let bn = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (x >= ring && x < w - ring && y >= ring && y < h - ring) continue;
      const v = L[y * w + x]!;
      bs += v;
      bs2 += v * v;
      bn++;
    }
  }
  const bmean = bs / bn;
  const bstd = Math.sqrt(Math.max(0, bs2 / bn - bmean * bmean));

  // Laplacian (noise), gradients and structure tensor on the interior.
  if (scratchH.length < n) scratchH = new Float32Array(n);
  const H = scratchH;
  // The border stays 0 (the autocorrelation reads it); a bigger image before may have left values there.
  H.fill(0, 0, n);
  lapHist.fill(0);
  let lapSum = 0;
  let lapDark = 0;
  let darkN = 0;
  let jxx = 0;
  let jyy = 0;
  let jxy = 0;
  let inner = 0;
  let specks = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const c = L[i]!;
      const l = L[i - 1]!;
      const r = L[i + 1]!;
      const u = L[i - w]!;
      const d = L[i + w]!;
      const signed = (4 * c - l - r - u - d) / 4;
      H[i] = signed;
      const lap = Math.abs(signed);
      lapSum += lap;
      lapHist[Math.min(255, Math.floor(lap * 1024))]!++;
      if (c < 0.15) {
        lapDark += lap;
        darkN++;
      }
      const gx = (r - l) / 2;
      const gy = (d - u) / 2;
      jxx += gx * gx;
      jyy += gy * gy;
      jxy += gx * gy;
      inner++;
      if (c > 0.5) {
        const ul = L[i - w - 1]!;
        const ur = L[i - w + 1]!;
        const dl = L[i + w - 1]!;
        const dr = L[i + w + 1]!;
        const nb = Math.max(l, r, u, d, ul, ur, dl, dr);
        if (c - nb > 0.05 && c - (l + r + u + d + ul + ur + dl + dr) / 8 > 0.2) specks++;
      }
    }
  }
  inner = Math.max(1, inner);
  const lapMedian = histPercentile(lapHist, inner, 0.5) / 4;
  const grad = (jxx + jyy) / inner;
  const coh = jxx + jyy > 1e-12 ? Math.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (jxx + jyy) : 0;
  const theta2 = Math.atan2(2 * jxy, jxx - jyy);

  // Gradient energy at half scale (2×2 means): blur keeps it, noise does not.
  const hw = w >> 1;
  const hh = h >> 1;
  let gradHalf = 0;
  if (hw >= 3 && hh >= 3) {
    if (scratchHalf.length < hw * hh) scratchHalf = new Float32Array(hw * hh);
    const half = scratchHalf;
    for (let y = 0; y < hh; y++) {
      for (let x = 0; x < hw; x++) {
        const i = 2 * y * w + 2 * x;
        half[y * hw + x] = (L[i]! + L[i + 1]! + L[i + w]! + L[i + w + 1]!) / 4;
      }
    }
    let gs = 0;
    let gn = 0;
    for (let y = 1; y < hh - 1; y++) {
      for (let x = 1; x < hw - 1; x++) {
        const i = y * hw + x;
        const gx = (half[i + 1]! - half[i - 1]!) / 2;
        const gy = (half[i + hw]! - half[i - hw]!) / 2;
        gs += gx * gx + gy * gy;
        gn++;
      }
    }
    gradHalf = gs / Math.max(1, gn);
  }

  // Autocorrelation of the high-pass (the signed Laplacian above) at a few offsets.
  // One pass for all six offsets: (0,1) (1,0) (1,1) (1,-1) (0,2) (2,0).
  let sRow = 0;
  let sCol = 0;
  let sDiag = 0;
  let sAnti = 0;
  let sRow2 = 0;
  let sCol2 = 0;
  let hv = 0;
  for (let y = 2; y < h - 2; y++) {
    for (let x = 2; x < w - 2; x++) {
      const i = y * w + x;
      const a = H[i]!;
      sRow += a * H[i + 1]!;
      sCol += a * H[i + w]!;
      sDiag += a * H[i + w + 1]!;
      sAnti += a * H[i + w - 1]!;
      sRow2 += a * H[i + 2]!;
      sCol2 += a * H[i + 2 * w]!;
      hv += a * a;
    }
  }
  const norm = hv > 1e-12 ? 1 / hv : 0;
  const acRow = sRow * norm;
  const acCol = sCol * norm;
  const acDiag = sDiag * norm;
  const acAnti = sAnti * norm;
  const acRow2 = sRow2 * norm;
  const acCol2 = sCol2 * norm;

  let k = 0;
  out[k++] = mean;
  out[k++] = Math.log(std + EPS);
  out[k++] = histPercentile(hist, n, 0.01);
  out[k++] = histPercentile(hist, n, 0.1);
  out[k++] = histPercentile(hist, n, 0.5);
  out[k++] = histPercentile(hist, n, 0.9);
  out[k++] = histPercentile(hist, n, 0.99);
  out[k++] = max;
  out[k++] = dark / n;
  out[k++] = bright / n;
  for (let b = 0; b < 8; b++) out[k++] = coarse[b]! / n;
  out[k++] = bmean;
  out[k++] = Math.log(bstd + EPS);
  out[k++] = Math.log(lapMedian + EPS);
  out[k++] = Math.log(lapSum / inner + EPS);
  out[k++] = Math.log((darkN ? lapDark / darkN : 0) + EPS);
  out[k++] = Math.log(grad + 1e-6);
  out[k++] = Math.log(gradHalf + 1e-6);
  out[k++] = Math.log((gradHalf + 1e-6) / (grad + 1e-6));
  out[k++] = coh;
  out[k++] = coh * Math.cos(theta2);
  out[k++] = coh * Math.sin(theta2);
  out[k++] = acRow;
  out[k++] = acCol;
  out[k++] = acDiag;
  out[k++] = acAnti;
  out[k++] = acRow2;
  out[k++] = acCol2;
  out[k++] = Math.max(acRow, acCol, acDiag, acAnti) - Math.min(acRow, acCol, acDiag, acAnti);
  out[k++] = specks / inner;
  out[k++] = zeros / n;
  return out;
}
