import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { RwsError } from '../../core/errors.js';
import { HOST_CHANNELS } from '../../api/host-channels.js';
import type { IpcContext } from './context.js';

const Args = z.string().min(1).max(4096);

/** Show a results folder in the file manager. Folders only: opening a file could run it. */
export function register(ctx: IpcContext): void {
  ctx.handle(HOST_CHANNELS.openPath, async (raw) => {
    const parsed = Args.safeParse(raw);
    if (!parsed.success) throw new RwsError('bad-argument', 'openPath: field "path": a folder path is expected', { field: 'path' });
    const p = parsed.data;
    const s = await stat(p).catch(() => null);
    if (!s?.isDirectory()) throw new RwsError('not-a-folder', `${p}: not a folder`, { file: p });
    const err = await ctx.shell.openPath(p);
    if (err) throw new RwsError('open-failed', `${p}: ${err}`, { file: p });
    return null;
  });
}
