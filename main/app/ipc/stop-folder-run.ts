import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `stopFolderRun`: Stop the folder run (resumable). Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.stopFolderRun, async (raw) => {
    const args = parseArgs('stopFolderRun', raw);
    return ctx.engine.call('stopFolderRun', args);
  });
}
