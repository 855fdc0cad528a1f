import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `getFolderResults`: A page of the folder run results and its failures. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.getFolderResults, async (raw) => {
    const args = parseArgs('getFolderResults', raw);
    return ctx.engine.call('getFolderResults', args);
  });
}
