#!/usr/bin/env node
// The `rws` command: runs the bundled CLI (out/cli, made by `npm run build` and `npm install`), or the
// compiled one (dist/) where that is newer, as after a bare `tsc`.
import module from 'node:module';
import { statSync } from 'node:fs';

// Node 22.1 and newer keep compiled code between runs (in the OS's temp folder): a faster start.
module.enableCompileCache?.();
const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const [bundle, compiled] = [mtime('../out/cli/rws.cjs'), mtime('../dist/main/cli/entry.js')];
if (bundle < 0 && compiled < 0) {
  console.error('rws: this checkout is not built yet: run `npm install` (or `npm run build`) in it first');
  process.exit(1);
}
// The bundle is CommonJS (scripts/bundle-cli.mjs): require skips the ES module loader's cost.
const { start } = bundle >= compiled ? module.createRequire(import.meta.url)('../out/cli/rws.cjs') : await import('../dist/main/cli/entry.js');

start(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`rws: ${err?.message ?? err}`); process.exitCode = 1; },
);
