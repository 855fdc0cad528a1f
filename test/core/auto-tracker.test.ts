import { describe, expect, it } from 'vitest';
import { ConditionTracker } from '../../main/core/auto-tracker.js';
import { createRandom } from '../../main/core/random.js';

const probs = (o: Record<string, number>) => new Map(Object.entries(o));
const sev = (o: Record<string, number> = {}) => new Map(Object.entries(o));

describe('ConditionTracker', () => {
  it('starts on the clean model and stays there on clean frames', () => {
    const t = new ConditionTracker();
    expect(t.current).toBe('clean');
    for (let i = 0; i < 20; i++) expect(t.update(probs({ clean: 0.9, fog: 0.1 }), sev({ fog: 2 })).id).toBe('clean');
  });

  it('settles on a steady new condition within 10 frames, switching once', () => {
    const t = new ConditionTracker();
    const seen: boolean[] = [];
    let at = -1;
    for (let i = 0; i < 20; i++) {
      const r = t.update(probs({ clean: 0.05, fog: 0.9, snow: 0.05 }), sev({ fog: 3 }));
      seen.push(r.switched);
      if (r.id === 'fog' && at < 0) at = i + 1;
    }
    expect(at).toBeGreaterThan(1);
    expect(at).toBeLessThanOrEqual(10);
    expect(seen.filter(Boolean)).toHaveLength(1);
    const last = t.update(probs({ fog: 1 }), sev({ fog: 3 }));
    expect(last.severity).toBeCloseTo(3, 6);
    expect(last.confidence).toBeGreaterThan(0.9);
  });

  it('does not flicker when single frames disagree', () => {
    const t = new ConditionTracker();
    const rng = createRandom(3);
    let switches = 0;
    // Fog on 3 frames of 4 is a settled fog; the odd frame says rain or clean.
    for (let i = 0; i < 40; i++) {
      const p: Record<string, number> = i % 4 === 3 ? (rng.next() < 0.5 ? { rain: 0.95, fog: 0.05 } : { clean: 0.9, fog: 0.1 }) : { fog: 0.9, clean: 0.1 };
      if (t.update(probs(p), sev({ fog: 3, rain: 3 })).switched) switches++;
    }
    expect(t.current).toBe('fog');
    expect(switches).toBe(1);
  });

  it('ignores a burst of two wrong frames', () => {
    const t = new ConditionTracker();
    for (let i = 0; i < 10; i++) t.update(probs({ noise: 1 }), sev({ noise: 2 }));
    expect(t.current).toBe('noise');
    t.update(probs({ rain: 1 }), sev({ rain: 3 }));
    t.update(probs({ rain: 1 }), sev({ rain: 3 }));
    expect(t.update(probs({ noise: 1 }), sev({ noise: 2 })).id).toBe('noise');
  });

  it('falls back to clean when unsure of everything', () => {
    const t = new ConditionTracker();
    for (let i = 0; i < 10; i++) t.update(probs({ fog: 1 }), sev({ fog: 3 }));
    expect(t.current).toBe('fog');
    // Evenly split between four conditions: none is clear, so the clean model returns.
    for (let i = 0; i < 15; i++) t.update(probs({ rain: 0.25, snow: 0.25, noise: 0.25, 'low-light': 0.25 }), sev());
    expect(t.current).toBe('clean');
  });

  it('counts a batch as its images: one clear batch of 8 switches', () => {
    const t = new ConditionTracker();
    const r = t.update(probs({ snow: 0.95, clean: 0.05 }), sev({ snow: 4 }), 8);
    expect(r.id).toBe('snow');
    expect(r.switched).toBe(true);
    expect(r.severity).toBe(4);
  });

  it('reset returns to clean with no history', () => {
    const t = new ConditionTracker({ hold: 1 });
    t.update(probs({ fog: 1 }), sev({ fog: 3 }), 5);
    expect(t.current).toBe('fog');
    t.reset();
    expect(t.current).toBe('clean');
    t.update(probs({ clean: 1 }), sev());
    expect(t.averages()).toEqual({ clean: 1 });
  });
});
