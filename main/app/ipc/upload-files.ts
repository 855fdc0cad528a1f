import { CHANNELS, parseArgs } from '../../api/contract.js';
import type { IpcContext } from './context.js';

/** `uploadFiles`: Write dropped files into a run folder. Arguments are checked against the contract's schema before the engine sees them. */
export function register(ctx: IpcContext): void {
  ctx.handle(CHANNELS.uploadFiles, async (raw) => {
    const args = parseArgs('uploadFiles', raw);
    return ctx.engine.call('uploadFiles', args);
  });
}
