import type { Command } from 'commander';

/** Registers `rws serve` (being built). */
export function register(program: Command): void {
  program.command('serve').description('(not built yet)').action(() => {
    throw new Error('rws serve is not built yet');
  });
}
