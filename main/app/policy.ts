// The app's security policy as plain data and predicates, so tests can assert on it without
// Electron, and the renderer's build can inject the same CSP into index.html.
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

/** The privileged scheme the window's own files are served from (never file://). */
export const APP_SCHEME = 'app';
/** Origin of the app's pages; nothing else may load in the window. */
export const APP_ORIGIN = `${APP_SCHEME}://rws`;

/**
 * The renderer's Content-Security-Policy. `connect-src 'self'` also covers the WebSocket of
 * `rws serve` (same origin, CSP level 3). Inline styles stay allowed because Svelte writes static
 * `style` attributes through templates; inline and remote scripts never are.
 */
export function contentSecurityPolicy(opts: { frameAncestors?: boolean; devServer?: string } = {}): string {
  const dev = opts.devServer ? ` ${opts.devServer} ${opts.devServer.replace(/^http/, 'ws')}` : '';
  const directives = [
    `default-src 'none'`,
    `script-src 'self'${dev}`,
    `style-src 'self' 'unsafe-inline'`,
    `img-src 'self' data: blob:`,
    `media-src 'self' blob: mediastream:`,
    `font-src 'self'`,
    `connect-src 'self'${dev}`,
    `worker-src 'self' blob:`,
    `object-src 'none'`,
    `base-uri 'none'`,
    `form-action 'none'`,
  ];
  // frame-ancestors is ignored (with a console warning) in a <meta> tag: header only.
  if (opts.frameAncestors) directives.push(`frame-ancestors 'none'`);
  return directives.join('; ');
}

/** The CSP sent as a response header on every app page. */
export const CSP_HEADER = contentSecurityPolicy({ frameAncestors: true });
/** The same policy as the `<meta http-equiv>` in index.html (for `rws serve` and a second layer). */
export const CSP_META = contentSecurityPolicy();

/** webPreferences of every window: isolated, sandboxed, no Node, web security on. */
export function secureWebPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
    safeDialogs: true,
    // Middle-click (auxclick) could open a link in a new window; the open handler denies those anyway.
    disableBlinkFeatures: 'Auxclick',
  };
}

/** Position and size of the main window, remembered between runs. */
export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export const DEFAULT_WINDOW_STATE: WindowState = { width: 1280, height: 800, maximized: false };

/** Options of the main window for a remembered state; shown once the first paint is ready. */
export function mainWindowOptions(state: WindowState, preload: string): BrowserWindowConstructorOptions {
  return {
    x: state.x,
    y: state.y,
    width: Math.max(state.width, 960),
    height: Math.max(state.height, 600),
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'RWS Studio',
    backgroundColor: '#0f1115',
    autoHideMenuBar: false,
    webPreferences: secureWebPreferences(preload),
  };
}

/** Keep a remembered window on a visible display; otherwise fall back to a centred default. */
export function clampWindowState(
  state: WindowState,
  displays: { x: number; y: number; width: number; height: number }[],
): WindowState {
  if (state.x === undefined || state.y === undefined) return { ...state, x: undefined, y: undefined };
  const { x, y } = state;
  const visible = displays.some((d) => x + 80 >= d.x && x + 80 <= d.x + d.width && y >= d.y && y + 40 <= d.y + d.height);
  return visible ? state : { ...state, x: undefined, y: undefined };
}

/**
 * Whether a permission request is granted: only the camera (`media` with video alone) and only for
 * the app's own pages. Microphone, geolocation, notifications' prompts etc. are all refused.
 */
export function isPermissionAllowed(
  permission: string,
  requestingUrl: string,
  details: { mediaTypes?: string[] } = {},
): boolean {
  if (!isAppUrl(requestingUrl)) return false;
  if (permission !== 'media') return false;
  const types = details.mediaTypes ?? [];
  return types.every((t) => t === 'video');
}

/** Permission checks (synchronous queries such as enumerateDevices labels): camera only. */
export function isPermissionCheckAllowed(permission: string, requestingOrigin: string, mediaType?: string): boolean {
  if (!isAppUrl(requestingOrigin)) return false;
  return permission === 'media' && (mediaType === undefined || mediaType === 'video' || mediaType === 'unknown');
}

/** True for the app's own pages (and the dev server when one is named). */
export function isAppUrl(url: string, devServer?: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === `${APP_SCHEME}:` && u.host === 'rws') return true;
  if (devServer) {
    try {
      return u.origin === new URL(devServer).origin;
    } catch {
      return false;
    }
  }
  return false;
}

/** Navigation inside the window is allowed only to the app's own pages; no remote content. */
export function isNavigationAllowed(url: string, devServer?: string): boolean {
  return isAppUrl(url, devServer);
}

/** Links the user may open in the system browser (never in the app): documentation over https. */
export function isExternalLinkAllowed(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}
