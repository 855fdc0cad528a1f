import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `setMix`: Patch the signatures of a mix in (or none: the clean model). Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.setMix, async (raw) => {
    const args = parseArgs('setMix', raw);
    return ctx.engine.call('setMix', args);
  });
}
