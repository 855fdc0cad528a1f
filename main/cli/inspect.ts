import type { Command } from 'commander';

/** Registers `rws inspect` (being built). */
export function register(program: Command): void {
  program.command('inspect').description('(not built yet)').action(() => {
    throw new Error('rws inspect is not built yet');
  });
}
