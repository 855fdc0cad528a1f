import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `exportResults`: Write the results as CSV or JSON. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.exportResults, async (raw) => {
    const args = parseArgs('exportResults', raw);
    return ctx.engine.call('exportResults', args);
  });
}
