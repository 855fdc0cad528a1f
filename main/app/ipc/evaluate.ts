import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `evaluate`: Accuracy vs severity per condition, clean vs patched. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.evaluate, async (raw) => {
    const args = parseArgs('evaluate', raw);
    return ctx.engine.call('evaluate', args);
  });
}
