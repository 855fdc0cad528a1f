import { Command, CommanderError } from 'commander';
import { isRwsError } from '../core/errors.js';
import { EXIT } from './exit.js';
import { register as registerExtract } from './extract.js';
import { register as registerInspect } from './inspect.js';
import { register as registerPatch } from './patch.js';
import { register as registerRun } from './run.js';
import { register as registerMerge } from './merge.js';
import { register as registerCorrupt } from './corrupt.js';
import { register as registerEval } from './eval.js';
import { register as registerServe } from './serve.js';
import { register as registerSign } from './sign.js';
import { register as registerVerify } from './verify.js';
import { register as registerPack } from './pack.js';
import { register as registerTrain } from './train.js';

export { EXIT } from './exit.js';

/** Build the `rws` program; each command lives in its own file and sets `process.exitCode` itself when not 0. */
export function buildProgram(): Command {
  const program = new Command('rws')
    .description('Robust Weight Signatures: make, inspect and apply them to ONNX image models.')
    .showHelpAfterError()
    .exitOverride();
  for (const register of [registerExtract, registerInspect, registerPatch, registerRun, registerMerge, registerCorrupt, registerEval, registerServe, registerSign, registerVerify, registerPack, registerTrain]) {
    register(program);
  }
  return program;
}

/** Run the CLI with `argv` (as in process.argv); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (isRwsError(e)) {
      console.error(`rws: ${e.message}`);
      return e.code.startsWith('usage') ? EXIT.usage : EXIT.fatal;
    }
    throw e;
  }
}
