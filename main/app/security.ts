// Applies main/app/policy.ts to Electron: CSP header, permission handlers (camera only), no
// navigation, no new windows, no webviews, no remote requests.
import { app, shell, type Session, type WebContents } from 'electron';
import { CSP_HEADER, contentSecurityPolicy, isAppUrl, isExternalLinkAllowed, isNavigationAllowed, isPermissionAllowed, isPermissionCheckAllowed } from './policy.js';

/** Harden a session: CSP on every response, only the camera permission, nothing from the network. */
export function hardenSession(ses: Session, devServer?: string): void {
  const csp = devServer ? contentSecurityPolicy({ frameAncestors: true, devServer }) : CSP_HEADER;
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
  });
  // No remote content: only the app's own pages (and the dev server in development) load.
  ses.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] }, (details, callback) => {
    callback({ cancel: !isAppUrl(details.url, devServer) });
  });
  ses.setPermissionRequestHandler((contents, permission, callback, details) => {
    const url = 'requestingUrl' in details ? details.requestingUrl : contents.getURL();
    const mediaTypes = 'mediaTypes' in details ? (details.mediaTypes as string[] | undefined) : undefined;
    callback(isPermissionAllowed(permission, url, { mediaTypes }));
  });
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) =>
    isPermissionCheckAllowed(permission, requestingOrigin, (details as { mediaType?: string }).mediaType),
  );
  ses.setDevicePermissionHandler(() => false);
}

/** Every web contents: no navigation away, no new windows (https links open in the browser), no webviews. */
export function guardWebContents(devServer?: string): void {
  app.on('web-contents-created', (_e, contents: WebContents) => {
    contents.on('will-navigate', (event, url) => {
      if (!isNavigationAllowed(url, devServer)) event.preventDefault();
    });
    contents.on('will-redirect', (event, url) => {
      if (!isNavigationAllowed(url, devServer)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      if (isExternalLinkAllowed(url)) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}
