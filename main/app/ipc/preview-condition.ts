import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `previewCondition`: An image with a simulated condition applied. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.previewCondition, async (raw) => {
    const args = parseArgs('previewCondition', raw);
    return ctx.engine.call('previewCondition', args);
  });
}
