// Plain browser build of the renderer (no Electron): `rws serve` serves out/renderer.
// electron.vite.config.ts builds the same app for the Electron window.
import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { CSP_META } from '../main/app/policy.js';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Writes the app's one CSP (main/app/policy.ts) into index.html's meta tag. */
export function cspMeta(): Plugin {
  return {
    name: 'rws-csp-meta',
    transformIndexHtml: (html) => html.replace('%RWS_CSP%', CSP_META),
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [svelte(), cspMeta()],
  build: {
    outDir: fileURLToPath(new URL('../out/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: { host: '127.0.0.1' },
});
