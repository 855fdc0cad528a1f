// Y4M video for Chromium's fake camera (--use-file-for-fake-video-capture): grey frames, 4:2:0,
// each with a strip of black/white blocks under the picture that encodes the frame's index, so a
// test can tell which frame a prediction was made on. Chromium reads the luma as video range
// (BT.601, 16–235), whatever the C tag says, so values are written in that range: a page then
// reads back the picture's own grey levels.

/** Layout of a marked frame: the picture on top, the index strip below. */
export interface MarkedLayout {
  width: number;
  /** Height of the picture part. */
  picture: number;
  /** Height of the strip. */
  strip: number;
  bits: number;
}

export const LAYOUT: MarkedLayout = { width: 280, picture: 280, strip: 40, bits: 8 };

/** Video-range luma of a grey level 0..1. */
function luma(v: number): number {
  return 16 + Math.round(Math.min(1, Math.max(0, v)) * 219);
}

/**
 * A Y4M file of grey pictures (each `size`×`size`, values 0..1, HWC) scaled up by nearest
 * neighbour to the layout's width, one frame per picture, at `fps`.
 */
export function markedY4m(pictures: { size: number; data: Float32Array }[], fps = 10, layout: MarkedLayout = LAYOUT): Uint8Array {
  const { width: w, picture: ph, strip: sh, bits } = layout;
  const h = ph + sh;
  const header = new TextEncoder().encode(`YUV4MPEG2 W${w} H${h} F${fps}:1 Ip A1:1 C420jpeg\n`);
  const frameHeader = new TextEncoder().encode('FRAME\n');
  const ySize = w * h;
  const cSize = (w / 2) * (h / 2);
  const out = new Uint8Array(header.length + pictures.length * (frameHeader.length + ySize + 2 * cSize));
  out.set(header, 0);
  let o = header.length;
  pictures.forEach((pic, index) => {
    out.set(frameHeader, o);
    o += frameHeader.length;
    const y = out.subarray(o, o + ySize);
    const scale = pic.size / w;
    for (let r = 0; r < ph; r++) {
      const sr = Math.min(pic.size - 1, Math.floor(r * (pic.size / ph)));
      for (let c = 0; c < w; c++) {
        const sc = Math.min(pic.size - 1, Math.floor(c * scale));
        y[r * w + c] = luma(pic.data[sr * pic.size + sc]!);
      }
    }
    for (let r = ph; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const bit = Math.floor((c * bits) / w);
        y[r * w + c] = luma((index >> bit) & 1);
      }
    }
    o += ySize;
    out.fill(128, o, o + 2 * cSize);
    o += 2 * cSize;
  });
  return out;
}
