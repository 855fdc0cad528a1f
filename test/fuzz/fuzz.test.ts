// `npm test` runs a short pass (300 inputs per target); `npm run fuzz` the long one (100,000 per
// target, or FUZZ_RUNS). Findings are saved as files (see harness.ts) and listed in the failure.
import { describe, expect, it } from 'vitest';
import { formatReports, fuzz, type FuzzReport } from './harness.js';
import { makeTargets } from './targets.js';

const long = process.env.npm_lifecycle_event === 'fuzz' || process.env.FUZZ_RUNS !== undefined;
const runs = Number(process.env.FUZZ_RUNS ?? (long ? 100_000 : 300));
const reports: FuzzReport[] = [];

describe(`fuzz (${runs} inputs per target)`, () => {
  const only = process.env.FUZZ_TARGETS?.split(',');
  const targets = makeTargets().filter((t) => !only || only.includes(t.name));
  for (const target of targets) {
    it(`${target.name}: every input loads or is refused with an RwsError naming the file, in bounded time and memory`, async () => {
      const r = await fuzz(target, { runs });
      reports.push(r);
      if (long || r.findings.length) console.log(formatReports([r]));
      expect(r.findings.map((f) => `${f.kind} ×${f.count}: ${f.what} (${f.saved})`)).toEqual([]);
      expect(r.inputs).toBe(runs);
      // The generators must reach both outcomes, or they are not testing the reader's checks.
      expect(r.refused).toBeGreaterThan(0);
      expect(r.loaded).toBeGreaterThan(0);
    }, long ? 4 * 3600_000 : 120_000);
  }
  it.runIf(long)('prints the figures', () => {
    console.log(`\nfuzz figures (seed ${process.env.FUZZ_SEED ?? 20260101}):\n${formatReports(reports)}`);
  });
});
