#!/usr/bin/env node
// The `rws` command: runs the compiled CLI (built by `npm install` through the `prepare` script).
import { main } from '../dist/main/cli/index.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`rws: ${err?.message ?? err}`); process.exitCode = 1; },
);
