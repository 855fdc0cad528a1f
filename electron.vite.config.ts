// Builds the desktop app: main process + engine utility process (ESM), the preload (CommonJS:
// a sandboxed preload cannot load ES modules) and the renderer (the same Svelte app that
// renderer/vite.config.ts builds for `rws serve`). Output in out/{main,preload,renderer}
// (electron-vite's defaults; `--outDir` moves all three).
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { cspMeta } from './renderer/vite.config.js';

const at = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  main: {
    build: {
      // onnxruntime-node, sharp, zod... stay in node_modules (native parts are unpacked from asar).
      externalizeDeps: true,
      rollupOptions: {
        input: {
          index: at('./main/app/index.ts'),
          'engine-process': at('./main/app/engine-process.ts'),
          'inference-worker': at('./main/engine/runtime/inference-worker.ts'),
        },
        output: { format: 'es', entryFileNames: '[name].js' },
      },
    },
  },
  preload: {
    build: {
      externalizeDeps: true,
      rollupOptions: {
        input: { index: at('./main/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: at('./renderer'),
    base: './',
    plugins: [svelte(), cspMeta()],
    build: {
      rollupOptions: { input: at('./renderer/index.html') },
    },
  },
});
