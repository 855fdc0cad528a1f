import type { Command } from 'commander';

/** Registers `rws patch` (being built). */
export function register(program: Command): void {
  program.command('patch').description('(not built yet)').action(() => {
    throw new Error('rws patch is not built yet');
  });
}
