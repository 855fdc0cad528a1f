import { dialog } from 'electron';
import { HOST_CHANNELS } from '../../api/host-channels.js';
import type { IpcContext } from './context.js';

/** Native folder dialog; resolves to the chosen path or null. */
export function register(ctx: IpcContext): void {
  ctx.handle(HOST_CHANNELS.pickFolder, async () => {
    const win = ctx.window();
    const opts: Electron.OpenDialogOptions = { properties: ['openDirectory', 'createDirectory'] };
    const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });
}
