import { describe, expect, it } from 'vitest';
import { FrameStats } from '../../../renderer/src/lib/stats.js';
import { formatBytes, formatDuration, joinPath, parentDir } from '../../../renderer/src/lib/format.js';

describe('frame statistics', () => {
  it('give nearest-rank percentiles and the frame rate over the window', () => {
    const s = new FrameStats(100);
    for (let i = 1; i <= 100; i++) s.add(i, i * 50);
    expect(s.quantile(0.5)).toBe(50);
    expect(s.quantile(0.95)).toBe(95);
    expect(s.fps()).toBeCloseTo(20);
  });

  it('keep only the last frames', () => {
    const s = new FrameStats(3);
    for (const v of [100, 1, 2, 3]) s.add(v, v);
    expect(s.latencies()).toEqual([1, 2, 3]);
    expect(new FrameStats().quantile(0.5)).toBeNaN();
  });
});

describe('formatting', () => {
  it('sizes, durations and paths', () => {
    expect(formatBytes(11436)).toBe('11 kB');
    expect(formatBytes(712345)).toBe('712 kB');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(null)).toBe('—');
    expect(joinPath('/data/out/', 'results.csv')).toBe('/data/out/results.csv');
    expect(joinPath('C:\\data', 'r.csv')).toBe('C:\\data\\r.csv');
    expect(parentDir('/data/shirts')).toBe('/data');
  });
});
