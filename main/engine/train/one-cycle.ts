// The one-cycle schedule the recipe trains its signatures with (torch's OneCycleLR with its
// defaults: cosine phases, the rate from max/25 up to max and down to max/25/10⁴, momentum
// cycling 0.95 → 0.85 → 0.95), computed here so that the step number alone sets both: a resumed
// training continues the same curve.

export interface OneCycle {
  maxLr: number;
  totalSteps: number;
  /** Share of the steps spent warming up (the recipe: 0.05 for a shallow fine-tune). */
  pctStart?: number;
}

const cosine = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);

/** Learning rate and momentum at `step` (0-based), phase by phase as torch computes them. */
export function oneCycleAt(s: OneCycle, step: number): { lr: number; momentum: number } {
  const initial = s.maxLr / 25;
  const final = initial / 1e4;
  const [baseM, maxM] = [0.85, 0.95];
  // torch ends the warm-up at pctStart·total − 1 (negative for a few steps in all: then there is none).
  const up = (s.pctStart ?? 0.05) * s.totalSteps - 1;
  const last = s.totalSteps - 1;
  if (step <= up) {
    const pct = up > 0 ? step / up : 1;
    return { lr: cosine(initial, s.maxLr, pct), momentum: cosine(maxM, baseM, pct) };
  }
  const pct = last > up ? Math.min(1, (step - up) / (last - up)) : 1;
  return { lr: cosine(s.maxLr, final, pct), momentum: cosine(baseM, maxM, pct) };
}
