// What `bin/rws.js` starts: `rws run` starts its inference worker first, so onnxruntime loads there
// while the CLI's own code loads here. Bundled into out/cli/rws.cjs by scripts/bundle-cli.mjs.
import { runsInference } from './commands.js';

/** Runs the CLI with `argv` (as in process.argv); resolves to the exit code. */
export async function start(argv: string[]): Promise<number> {
  if (runsInference(argv.slice(2))) (await import('./run-worker.js')).startRunWorker();
  const { main } = await import('./index.js');
  return main(argv);
}
