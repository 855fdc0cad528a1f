import { dialog } from 'electron';
import { z } from 'zod';
import { HOST_CHANNELS } from '../../api/host-channels.js';
import type { IpcContext } from './context.js';

const Args = z.object({ defaultName: z.string().min(1).max(255), format: z.enum(['csv', 'json']) }).strict();

/** Native save dialog for an export; resolves to the chosen path or null. */
export function register(ctx: IpcContext): void {
  ctx.handle(HOST_CHANNELS.pickSaveFile, async (raw) => {
    const { defaultName, format } = Args.parse(raw);
    const opts: Electron.SaveDialogOptions = {
      defaultPath: defaultName,
      filters: [format === 'csv' ? { name: 'CSV', extensions: ['csv'] } : { name: 'JSON', extensions: ['json'] }],
    };
    const win = ctx.window();
    const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
    return r.canceled ? null : (r.filePath ?? null);
  });
}
