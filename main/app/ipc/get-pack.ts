import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `getPack`: The loaded pack, or null. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.getPack, async (raw) => {
    const args = parseArgs('getPack', raw);
    return ctx.engine.call('getPack', args);
  });
}
