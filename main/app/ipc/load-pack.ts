import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `loadPack`: Load a pack folder (or the default pack); the folder is remembered for the next start. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.loadPack, async (raw) => {
    const args = parseArgs('loadPack', raw);
    const pack = await ctx.engine.call('loadPack', args);
    void ctx.settings.update({ packDir: args?.dir });
    return pack;
  });
}
