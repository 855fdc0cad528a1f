import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `setDevice`: Move the models to another execution provider; the choice is remembered. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.setDevice, async (raw) => {
    const args = parseArgs('setDevice', raw);
    const change = await ctx.engine.call('setDevice', args);
    void ctx.settings.update({ device: args.device });
    return change;
  });
}
