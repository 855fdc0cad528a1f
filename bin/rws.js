#!/usr/bin/env node
// The `rws` command: runs the compiled CLI (built by `npm install` through the `prepare` script).
import module from 'node:module';

// Node 22.1 and newer keep compiled code between runs (in the OS's temp folder): a faster start.
module.enableCompileCache?.();
// `rws run` starts its inference worker first, so onnxruntime loads there while the CLI loads here.
const { runsInference } = await import('../dist/main/cli/commands.js');
if (runsInference(process.argv.slice(2))) (await import('../dist/main/cli/run-worker.js')).startRunWorker();
const { main } = await import('../dist/main/cli/index.js');

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`rws: ${err?.message ?? err}`); process.exitCode = 1; },
);
