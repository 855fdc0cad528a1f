// The e2e tests run the built CLI (tsc → dist/) and the built renderer (vite → out/renderer):
// build them when their sources are newer than the build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** Newest modification time of the files under `dir` (recursive). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Build the CLI (tsc) and the renderer (vite) of the repository at `root` when they are out of date. */
export function ensureBuilt(root: string): void {
  const cli = path.join(root, 'dist', 'main', 'cli', 'index.js');
  if (!existsSync(cli) || newest(path.join(root, 'main')) > statSync(cli).mtimeMs) {
    console.log('e2e: building dist/ (tsc)');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'pipe' });
    } catch {
      // Type errors elsewhere still emit JavaScript; a missing file is caught below.
    }
  }
  const page = path.join(root, 'out', 'renderer', 'index.html');
  if (!existsSync(page) || Math.max(newest(path.join(root, 'renderer')), newest(path.join(root, 'main', 'api')), newest(path.join(root, 'main', 'core'))) > statSync(page).mtimeMs) {
    console.log('e2e: building out/renderer (vite)');
    execFileSync('npx', ['vite', 'build', '-c', 'renderer/vite.config.ts'], { cwd: root, stdio: 'pipe' });
  }
  for (const f of [cli, path.join(root, 'dist', 'main', 'engine', 'runtime', 'inference-worker.js'), page]) {
    if (!existsSync(f)) throw new Error(`e2e: ${f} is missing after the build`);
  }
}
