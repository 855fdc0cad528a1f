import { Command, CommanderError, Help } from 'commander';
import { isRwsError } from '../core/errors.js';
import { commandOf, COMMANDS, type CommandListing } from './commands.js';
import { EXIT } from './exit.js';

export { EXIT } from './exit.js';
export { commandOf } from './commands.js';

/** A command module: registers its command(s) on the program. */
type CommandModule = { register(program: Command): void };

const MODULES: Record<CommandListing['module'], () => Promise<CommandModule>> = {
  extract: () => import('./extract.js'),
  inspect: () => import('./inspect.js'),
  patch: () => import('./patch.js'),
  run: () => import('./run.js'),
  merge: () => import('./merge.js'),
  corrupt: () => import('./corrupt.js'),
  eval: () => import('./eval.js'),
  serve: () => import('./serve.js'),
  sign: () => import('./sign.js'),
  verify: () => import('./verify.js'),
  pack: () => import('./pack.js'),
  train: () => import('./train.js'),
};

/**
 * Build the `rws` program. Only the modules of `load` (command names; all of them by default) are
 * imported and registered; every other command is listed from main/cli/commands.ts, so `rws
 * --help` and `rws run ...` do not load the code of every command. Each command sets
 * `process.exitCode` itself when not 0.
 */
export async function buildProgram(load: readonly string[] = Object.keys(COMMANDS)): Promise<Command> {
  const program = new Command('rws')
    .description('Robust Weight Signatures: make, inspect and apply them to ONNX image models.')
    .showHelpAfterError()
    .exitOverride()
    // A listed command has no options or arguments of its own until its module loads: list it as the module would.
    .configureHelp({ subcommandTerm: (cmd) => COMMANDS[cmd.name()]?.term ?? Help.prototype.subcommandTerm.call(new Help(), cmd) })
    .option('--trusted-keys <dir>', 'load only packs, signatures and models signed by a public key in this folder (default: $RWS_TRUSTED_KEYS)');
  program.hook('preAction', async (root) => {
    const trust = await import('../engine/packs/trust.js');
    trust.setTrustPolicy(undefined);
    trust.setTrustedKeysDir(root.opts().trustedKeys as string | undefined);
  });
  const wanted = new Set(load.map((name) => COMMANDS[name]?.module).filter((m) => m !== undefined));
  const registered = new Set<string>();
  for (const [name, listing] of Object.entries(COMMANDS)) {
    if (wanted.has(listing.module)) {
      if (!registered.has(listing.module)) (await MODULES[listing.module]()).register(program);
      registered.add(listing.module);
    } else {
      program.command(name).description(listing.description);
    }
  }
  return program;
}

/** Run the CLI with `argv` (as in process.argv); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const name = commandOf(argv.slice(2));
  const program = await buildProgram(name !== undefined && COMMANDS[name] ? [name] : []);
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
