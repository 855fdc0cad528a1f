import { describe, expect, it } from 'vitest';
import { drawPlan, inputToRgba, rgbaToInput } from '../../../renderer/src/lib/frame.js';

describe('camera frame to model input', () => {
  it('stretches for fill', () => {
    expect(drawPlan('fill', 640, 480, 28, 28)).toEqual({ sx: 0, sy: 0, sw: 640, sh: 480, dx: 0, dy: 0, dw: 28, dh: 28 });
  });

  it('crops the centre for cover, keeping the aspect ratio', () => {
    const p = drawPlan('cover', 640, 480, 28, 28);
    expect(p.sw).toBeCloseTo(480);
    expect(p.sh).toBeCloseTo(480);
    expect(p.sx).toBeCloseTo(80);
    expect(p.sy).toBeCloseTo(0);
    expect([p.dx, p.dy, p.dw, p.dh]).toEqual([0, 0, 28, 28]);
  });

  it('with a shorter side (resize 256, crop 224) cuts the centre 224/256 of the frame\'s shorter side', () => {
    const p = drawPlan('cover', 640, 480, 224, 224, 256);
    expect(p.sh).toBeCloseTo(420);
    expect(p.sw).toBeCloseTo(420);
    expect(p.sx).toBeCloseTo(110);
    expect(p.sy).toBeCloseTo(30);
    expect([p.dx, p.dy, p.dw, p.dh]).toEqual([0, 0, 224, 224]);
  });

  it('letterboxes for contain', () => {
    const p = drawPlan('contain', 640, 320, 28, 28);
    expect([p.sx, p.sy, p.sw, p.sh]).toEqual([0, 0, 640, 320]);
    expect(p.dw).toBeCloseTo(28);
    expect(p.dh).toBeCloseTo(14);
    expect(p.dy).toBeCloseTo(7);
  });

  it('turns RGBA into grey luma or RGB in 0..1, HWC', () => {
    const rgba = new Uint8ClampedArray([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255]);
    const grey = rgbaToInput(rgba, 2, 2, 1);
    expect(Array.from(grey).map((v) => +v.toFixed(3))).toEqual([0.299, 0.587, 0.114, 1]);
    const rgb = rgbaToInput(rgba, 2, 2, 3);
    expect(Array.from(rgb)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]);
  });

  it('shows the input back as RGBA', () => {
    const back = inputToRgba(new Float32Array([0, 0.5, 1, 1]), 2, 2, 1);
    expect(Array.from(back.slice(0, 8))).toEqual([0, 0, 0, 255, 128, 128, 128, 255]);
  });
});
