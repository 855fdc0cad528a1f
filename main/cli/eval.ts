import type { Command } from 'commander';

/** Registers `rws eval` (being built). */
export function register(program: Command): void {
  program.command('eval').description('(not built yet)').action(() => {
    throw new Error('rws eval is not built yet');
  });
}
