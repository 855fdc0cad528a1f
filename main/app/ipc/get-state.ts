import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `getState`: The engine state (pack, device, mix, run). Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.getState, async (raw) => {
    const args = parseArgs('getState', raw);
    return ctx.engine.call('getState', args);
  });
}
