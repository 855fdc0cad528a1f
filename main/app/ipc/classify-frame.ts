import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `classifyFrame`: Classify one camera frame already at the model input size. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.classifyFrame, async (raw) => {
    const args = parseArgs('classifyFrame', raw);
    return ctx.engine.call('classifyFrame', args);
  });
}
