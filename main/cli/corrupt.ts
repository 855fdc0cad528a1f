import type { Command } from 'commander';

/** Registers `rws corrupt` (being built). */
export function register(program: Command): void {
  program.command('corrupt').description('(not built yet)').action(() => {
    throw new Error('rws corrupt is not built yet');
  });
}
