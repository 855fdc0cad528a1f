import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `resumeFolderRun`: Resume a stopped folder run from its journal. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.resumeFolderRun, async (raw) => {
    const args = parseArgs('resumeFolderRun', raw);
    return ctx.engine.call('resumeFolderRun', args);
  });
}
