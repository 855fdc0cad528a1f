import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `listRoots`: Folders the engine may read and write (all, on the desktop). Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.listRoots, async (raw) => {
    const args = parseArgs('listRoots', raw);
    return ctx.engine.call('listRoots', args);
  });
}
