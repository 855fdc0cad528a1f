import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `browse`: List a folder. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.browse, async (raw) => {
    const args = parseArgs('browse', raw);
    return ctx.engine.call('browse', args);
  });
}
