import type { Command } from 'commander';

/** Registers `rws extract` (being built). */
export function register(program: Command): void {
  program.command('extract').description('(not built yet)').action(() => {
    throw new Error('rws extract is not built yet');
  });
}
