import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `listDevices`: Execution providers with availability and reasons. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.listDevices, async (raw) => {
    const args = parseArgs('listDevices', raw);
    return ctx.engine.call('listDevices', args);
  });
}
