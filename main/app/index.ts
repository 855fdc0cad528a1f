// Electron main process: one instance, a hardened session, the renderer under app://rws, the
// engine in a utility process, and one IPC handler per command routing to it.
import { app, BrowserWindow, ipcMain, Menu, session, utilityProcess } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EVENT_CHANNELS, type DeviceId, type EventName, type FolderProgress, type RwsEvents } from '../api/contract.js';
import { RunFeedback } from './desktop-shell.js';
import { electronShell } from './electron-shell.js';
import { EngineHost, type EngineProcess } from './engine-host.js';
import { toApiError } from '../api/errors.js';
import type { EngineMessage } from './engine-protocol.js';
import type { IpcReply } from '../api/host-channels.js';
import { registerCommandHandlers } from './ipc/commands.js';
import type { IpcContext } from './ipc/context.js';
import { register as registerOpenPath } from './ipc/open-path.js';
import { register as registerPickFolder } from './ipc/pick-folder.js';
import { register as registerPickSaveFile } from './ipc/pick-save-file.js';
import { buildMenu } from './menu.js';
import { APP_ORIGIN, isAppUrl } from './policy.js';
import { registerAppScheme, serveRenderer } from './protocol.js';
import { guardWebContents, hardenSession } from './security.js';
import { SettingsStore } from './settings.js';
import { createMainWindow } from './window.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// electron-vite sets this in development only; production always loads app://rws.
const devServer = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  registerAppScheme();
  app.enableSandbox();
  guardWebContents(devServer);
  void app.whenReady().then(start);
}

let mainWindow: BrowserWindow | null = null;
let engine: EngineHost | null = null;

app.on('second-instance', () => {
  if (!mainWindow) return;
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.focus();
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

app.on('before-quit', () => engine?.stop());

/** Default pack: shipped as an extra resource when packaged, else the engine's own default (the repository's). */
function defaultPackDir(): string | undefined {
  return app.isPackaged ? path.join(process.resourcesPath, 'native-models', 'fashion-mnist') : undefined;
}

function spawnEngine(packDir: string | undefined) {
  return ({ device }: { device: DeviceId }): EngineProcess => {
    const env: Record<string, string> = { ...(process.env as Record<string, string>), RWS_ENGINE_DEVICE: device };
    if (packDir) env.RWS_PACK_DIR = packDir;
    // glibc makes up to 8 malloc arenas per core for the decode and inference threads, and raises
    // its mmap threshold as large blocks are freed, so later ones come from (and stay in) the heap.
    // Two arenas and fixed 128 KiB thresholds keep RSS flat from one 50,000-image run to the next
    // (npm run soak) at no measurable cost in speed (npm run bench folder). A user's setting wins.
    env.MALLOC_ARENA_MAX ??= '2';
    env.MALLOC_MMAP_THRESHOLD_ ??= '131072';
    env.MALLOC_TRIM_THRESHOLD_ ??= '131072';
    const child = utilityProcess.fork(path.join(here, 'engine-process.js'), [], { serviceName: 'RWS engine', env, stdio: 'inherit' });
    return {
      post: (msg) => child.postMessage(msg),
      onMessage: (cb) => child.on('message', (m: EngineMessage) => cb(m)),
      onExit: (cb) => child.on('exit', (code) => cb(code)),
      kill: () => void child.kill(),
    };
  };
}

const desktop = electronShell(() => mainWindow);
/** Taskbar progress and the notification at a run's end, from the engine's progress events. */
const feedback = new RunFeedback(desktop);

function broadcast<E extends EventName>(event: E, payload: RwsEvents[E]): void {
  for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(EVENT_CHANNELS[event], payload);
  if (event === 'progress') feedback.onProgress(payload as FolderProgress);
}

async function start(): Promise<void> {
  const settings = await SettingsStore.open(app.getPath('userData'));
  hardenSession(session.defaultSession, devServer);
  serveRenderer(path.join(here, '..', 'renderer'));
  Menu.setApplicationMenu(buildMenu(!app.isPackaged));

  const saved = settings.get();
  engine = new EngineHost({
    spawn: spawnEngine(saved.packDir ?? defaultPackDir()),
    device: saved.device,
    onEvent: (event, payload) => {
      // After a fall back to CPU, the next start should not try the provider that crashed again.
      if (event === 'deviceChange' && (payload as RwsEvents['deviceChange']).fallback) void settings.update({ device: 'cpu' });
      broadcast(event, payload);
    },
  });
  const host = engine;

  const ctx: IpcContext = {
    engine: host,
    settings,
    shell: desktop,
    window: () => mainWindow,
    handle(channel, fn) {
      ipcMain.handle(channel, async (event, args): Promise<IpcReply> => {
        // Only the app's own pages may call the engine (never a frame that navigated elsewhere).
        if (!isAppUrl(event.senderFrame?.url ?? '', devServer)) {
          return { ok: false, error: { code: 'forbidden', message: `${channel}: refused for a page outside the app` } };
        }
        try {
          return { ok: true, value: await fn(args, event) };
        } catch (e) {
          return { ok: false, error: toApiError(e) };
        }
      });
    },
  };
  registerCommandHandlers(ctx);
  registerPickFolder(ctx);
  registerPickSaveFile(ctx);
  registerOpenPath(ctx);

  void host.start();
  const url = devServer ?? `${APP_ORIGIN}/index.html`;
  mainWindow = createMainWindow(settings, path.join(here, '..', 'preload', 'index.cjs'), url);
  mainWindow.on('closed', () => (mainWindow = null));

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) {
      mainWindow = createMainWindow(settings, path.join(here, '..', 'preload', 'index.cjs'), url);
    }
  });
}
