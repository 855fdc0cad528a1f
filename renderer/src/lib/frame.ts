// Camera frame -> model-sized input. The canvas does the downscale; these pure parts decide the
// crop and turn RGBA bytes into the HWC 0..1 values classifyFrame takes.
import type { PackInputInfo } from '../../../main/api/contract.js';

/** Source rectangle to draw and destination rectangle to draw it into (canvas drawImage's 8 numbers). */
export interface DrawPlan {
  sx: number; sy: number; sw: number; sh: number;
  dx: number; dy: number; dw: number; dh: number;
}

/**
 * Where a `srcW×srcH` frame lands on a `dstW×dstH` input for the pack's resize mode; with
 * `shorterSide` (cover only) the frame's shorter side is scaled to it and the centre cut out.
 */
export function drawPlan(mode: PackInputInfo['resize'], srcW: number, srcH: number, dstW: number, dstH: number, shorterSide?: number): DrawPlan {
  const full = { sx: 0, sy: 0, sw: srcW, sh: srcH, dx: 0, dy: 0, dw: dstW, dh: dstH };
  if (mode === 'fill' || srcW <= 0 || srcH <= 0) return full;
  const cover = shorterSide ? shorterSide / Math.min(srcW, srcH) : Math.max(dstW / srcW, dstH / srcH);
  const scale = mode === 'cover' ? cover : Math.min(dstW / srcW, dstH / srcH);
  if (mode === 'cover') {
    // Centre crop of the source with the destination's aspect ratio.
    const sw = dstW / scale;
    const sh = dstH / scale;
    return { sx: (srcW - sw) / 2, sy: (srcH - sh) / 2, sw, sh, dx: 0, dy: 0, dw: dstW, dh: dstH };
  }
  const dw = srcW * scale;
  const dh = srcH * scale;
  return { sx: 0, sy: 0, sw: srcW, sh: srcH, dx: (dstW - dw) / 2, dy: (dstH - dh) / 2, dw, dh };
}

/**
 * RGBA bytes -> HWC float 0..1 with 1 or 3 channels (grey = ITU-R BT.601 luma, as PIL's "L").
 * Mean/std and layout are the engine's job, so the same values feed the corruptions.
 */
export function rgbaToInput(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number, channels: 1 | 3, out?: Float32Array<ArrayBuffer>): Float32Array<ArrayBuffer> {
  const n = width * height;
  const data = out && out.length === n * channels ? out : new Float32Array(n * channels);
  if (channels === 1) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      data[i] = (0.299 * rgba[j]! + 0.587 * rgba[j + 1]! + 0.114 * rgba[j + 2]!) / 255;
    }
  } else {
    for (let i = 0, j = 0, k = 0; i < n; i++, j += 4, k += 3) {
      data[k] = rgba[j]! / 255;
      data[k + 1] = rgba[j + 1]! / 255;
      data[k + 2] = rgba[j + 2]! / 255;
    }
  }
  return data;
}

/** HWC 0..1 values -> RGBA bytes, to show what the model sees. */
export function inputToRgba(data: Float32Array, width: number, height: number, channels: 1 | 3, out?: Uint8ClampedArray<ArrayBuffer>): Uint8ClampedArray<ArrayBuffer> {
  const n = width * height;
  const rgba = out && out.length === n * 4 ? out : new Uint8ClampedArray(n * 4);
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    if (channels === 1) {
      const v = data[i]! * 255;
      rgba[j] = v; rgba[j + 1] = v; rgba[j + 2] = v;
    } else {
      rgba[j] = data[i * 3]! * 255; rgba[j + 1] = data[i * 3 + 1]! * 255; rgba[j + 2] = data[i * 3 + 2]! * 255;
    }
    rgba[j + 3] = 255;
  }
  return rgba;
}
