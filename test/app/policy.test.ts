// The window's security settings and CSP as data (main/app/policy.ts), asserted without Electron.
import { describe, expect, it } from 'vitest';
import {
  APP_ORIGIN,
  CSP_HEADER,
  CSP_META,
  clampWindowState,
  contentSecurityPolicy,
  isExternalLinkAllowed,
  isNavigationAllowed,
  isPermissionAllowed,
  isPermissionCheckAllowed,
  mainWindowOptions,
  secureWebPreferences,
} from '../../main/app/policy.js';
import { cspMeta } from '../../renderer/vite.config.js';

function directives(csp: string): Map<string, string[]> {
  return new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));
}

describe('window options', () => {
  it('isolate, sandbox and keep Node out of every window', () => {
    const opts = mainWindowOptions({ width: 1280, height: 720, maximized: false }, '/app/preload/index.cjs');
    expect(opts.webPreferences).toMatchObject({
      preload: '/app/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
    });
    expect(secureWebPreferences('/app/preload/index.cjs')).toEqual(opts.webPreferences);
    expect(opts.show).toBe(false);
    expect(opts.minWidth).toBeLessThanOrEqual(1280);
    expect(opts.minHeight).toBeLessThanOrEqual(720);
  });

  it('forget a remembered position that is on no display', () => {
    const displays = [{ x: 0, y: 0, width: 1920, height: 1080 }];
    expect(clampWindowState({ x: 100, y: 50, width: 1280, height: 720, maximized: false }, displays)).toMatchObject({ x: 100, y: 50 });
    expect(clampWindowState({ x: 4000, y: 50, width: 1280, height: 720, maximized: false }, displays)).toMatchObject({ x: undefined, y: undefined, width: 1280 });
  });
});

describe('content security policy', () => {
  const csp = directives(CSP_HEADER);

  it('allows scripts only from the app itself, never inline or eval', () => {
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(CSP_HEADER).not.toContain('unsafe-eval');
    expect(csp.get('script-src')).not.toContain("'unsafe-inline'");
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
  });

  it('reaches only its own origin (the IPC bridge or rws serve), and the camera as a media stream', () => {
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('media-src')).toEqual(["'self'", 'blob:', 'mediastream:']);
    expect(csp.get('img-src')).toEqual(["'self'", 'data:', 'blob:']);
    expect(CSP_HEADER).not.toMatch(/https?:/);
  });

  it('puts frame-ancestors in the header only (a meta tag ignores it)', () => {
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives(CSP_META).has('frame-ancestors')).toBe(false);
  });

  it('opens the dev server only when one is named', () => {
    const dev = directives(contentSecurityPolicy({ devServer: 'http://localhost:5173' }));
    expect(dev.get('connect-src')).toEqual(["'self'", 'http://localhost:5173', 'ws://localhost:5173']);
  });

  it('is written into index.html by the renderer build', () => {
    const transform = cspMeta().transformIndexHtml as (html: string) => string;
    const html = transform('<meta http-equiv="Content-Security-Policy" content="%RWS_CSP%" />');
    expect(html).toBe(`<meta http-equiv="Content-Security-Policy" content="${CSP_META}" />`);
  });
});

describe('permissions and navigation', () => {
  const page = `${APP_ORIGIN}/index.html`;

  it('grant the camera to the app and nothing else', () => {
    expect(isPermissionAllowed('media', page, { mediaTypes: ['video'] })).toBe(true);
    expect(isPermissionAllowed('media', page, { mediaTypes: ['audio'] })).toBe(false);
    expect(isPermissionAllowed('media', page, { mediaTypes: ['video', 'audio'] })).toBe(false);
    for (const p of ['geolocation', 'notifications', 'midi', 'clipboard-read', 'openExternal', 'display-capture', 'hid', 'serial', 'usb']) {
      expect(isPermissionAllowed(p, page)).toBe(false);
    }
    expect(isPermissionAllowed('media', 'https://example.com/', { mediaTypes: ['video'] })).toBe(false);
    expect(isPermissionCheckAllowed('media', APP_ORIGIN, 'video')).toBe(true);
    expect(isPermissionCheckAllowed('media', APP_ORIGIN, 'audio')).toBe(false);
    expect(isPermissionCheckAllowed('geolocation', APP_ORIGIN)).toBe(false);
  });

  it('keep the window on the app pages; only https links go to the system browser', () => {
    expect(isNavigationAllowed(page)).toBe(true);
    expect(isNavigationAllowed('https://example.com/')).toBe(false);
    expect(isNavigationAllowed('file:///etc/passwd')).toBe(false);
    expect(isNavigationAllowed('app://evil/index.html')).toBe(false);
    expect(isNavigationAllowed('http://localhost:5173/', 'http://localhost:5173')).toBe(true);
    expect(isExternalLinkAllowed('https://arxiv.org/abs/2302.12480')).toBe(true);
    expect(isExternalLinkAllowed('file:///bin/sh')).toBe(false);
    expect(isExternalLinkAllowed('javascript:alert(1)')).toBe(false);
  });
});
