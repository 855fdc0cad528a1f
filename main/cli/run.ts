import type { Command } from 'commander';

/** Registers `rws run` (being built). */
export function register(program: Command): void {
  program.command('run').description('(not built yet)').action(() => {
    throw new Error('rws run is not built yet');
  });
}
