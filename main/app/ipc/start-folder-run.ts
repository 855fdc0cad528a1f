import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `startFolderRun`: Start a folder run. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.startFolderRun, async (raw) => {
    const args = parseArgs('startFolderRun', raw);
    return ctx.engine.call('startFolderRun', args);
  });
}
