// Runs electronegativity's scanner on each folder given and prints its findings as JSON. Its own
// CLI cannot start here (it requires an old `commander` it does not declare, and gets ours, v14),
// so this calls the runner it exports. It tries to fetch Electron's release list first (about 7-10 s
// offline); the caller bounds the time.
const run = require('@doyensec/electronegativity');

(async () => {
  const out = [];
  for (const input of process.argv.slice(2)) {
    const r = await run({ input, isRelative: true, electronVersionOverride: process.env.ELECTRON_VERSION || '41.0.0' });
    out.push({
      input,
      checks: r.atomicChecks + r.globalChecks,
      errors: r.errors,
      issues: r.issues.map((i) => ({
        id: i.id,
        file: i.file,
        line: i.location.line,
        severity: i.severity.name,
        confidence: i.confidence.name,
        manualReview: Boolean(i.manualReview),
        description: i.description,
      })),
    });
  }
  process.stdout.write('\n@@ELECTRONEGATIVITY@@' + JSON.stringify(out) + '\n');
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
