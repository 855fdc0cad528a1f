import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `getThumbnail`: A result's thumbnail as a data URL. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.getThumbnail, async (raw) => {
    const args = parseArgs('getThumbnail', raw);
    return ctx.engine.call('getThumbnail', args);
  });
}
