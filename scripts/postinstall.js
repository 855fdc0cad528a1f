#!/usr/bin/env node
// Fetches Electron's binary if it can. package.json's allowScripts blocks electron's own install
// script so that an offline field machine (or a build machine that reaches only the npm registry)
// still finishes `npm install` with a working `rws` and `rws serve`; only the desktop window needs
// the binary.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
let electronDir;
try {
  electronDir = path.dirname(require.resolve('electron/package.json'));
} catch {
  process.exit(0); // production install without dev dependencies: no desktop app to fetch for
}
if (process.env.ELECTRON_SKIP_BINARY_DOWNLOAD) {
  console.log('rws-studio: ELECTRON_SKIP_BINARY_DOWNLOAD is set: the Electron binary was not fetched (rws and rws serve work without it).');
  process.exit(0);
}
if (existsSync(path.join(electronDir, 'path.txt'))) process.exit(0);
const r = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], { stdio: 'pipe', timeout: 120_000, encoding: 'utf8' });
if (r.status !== 0) {
  const lines = (r.stderr || r.stdout || String(r.error ?? 'unknown error')).trim().split('\n');
  const why = (lines.find((l) => /error/i.test(l)) ?? lines[0]).trim();
  console.warn(`rws-studio: warning: the Electron binary could not be downloaded (${why}).`);
  console.warn('  `rws` and `rws serve` work; for the desktop window, run `node node_modules/electron/install.js` once online.');
}
