// The one-cycle schedule is torch's OneCycleLR (the recipe's), step for step.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { oneCycleAt } from '../../../main/engine/train/one-cycle.js';
import { pythonCommand } from '../../../main/engine/train/torch-graph.js';

const hasTorch = spawnSync(pythonCommand(), ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
if (!hasTorch) console.warn(`SKIPPED test/engine/train/one-cycle (the comparison with torch): ${pythonCommand()} has no torch`);

/** torch's learning rate and momentum at every step of a OneCycleLR on SGD with momentum. */
function torchSchedule(maxLr: number, total: number, pctStart: number): { lr: number; momentum: number }[] {
  const script = `
import json, torch
p = torch.nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([p], lr=${maxLr}, momentum=0.9, nesterov=True)
s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=${maxLr}, total_steps=${total}, pct_start=${pctStart})
out = []
for i in range(${total}):
    g = opt.param_groups[0]
    out.append({"lr": g["lr"], "momentum": g["momentum"]})
    opt.step(); s.step()
print(json.dumps(out))`;
  const r = spawnSync(pythonCommand(), ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

describe.skipIf(!hasTorch)('oneCycleAt', () => {
  for (const [maxLr, total, pct] of [[0.1, 140, 0.05], [0.03, 7, 0.05], [0.5, 60, 0.3]] as const) {
    it(`equals torch's OneCycleLR: max ${maxLr}, ${total} steps, ${pct} warm-up`, () => {
      const want = torchSchedule(maxLr, total, pct);
      want.forEach((w, step) => {
        const got = oneCycleAt({ maxLr, totalSteps: total, pctStart: pct }, step);
        expect(got.lr, `lr at ${step}`).toBeCloseTo(w.lr, 12);
        expect(got.momentum, `momentum at ${step}`).toBeCloseTo(w.momentum, 12);
      });
    });
  }
});
