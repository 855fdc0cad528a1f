// The one place the renderer picks its transport: the Electron preload's `window.rws`, or the
// browser client of `rws serve`. Everything else talks to the RwsApi it returns.
import type { RwsApi } from '../../../main/api/contract.js';

declare global {
  interface Window {
    rws?: RwsApi;
  }
}

/** The API of this host: Electron's preload when present, else HTTP + WebSocket to `rws serve`. */
export async function connectApi(): Promise<RwsApi> {
  if (window.rws) return window.rws;
  const { createHttpClient } = await import('../../../main/api/http-client.js');
  return createHttpClient();
}

/** What only the Electron preload adds: the real path of a dropped file. */
export interface RwsFiles {
  pathForFile(file: File): string;
}
declare global {
  interface Window {
    rwsFiles?: RwsFiles;
  }
}
