// The desktop build (electron-vite, into a temp folder): the preload is CommonJS that requires only
// `electron` (a sandboxed preload cannot load ES modules or node_modules), main and the engine entry
// are ES modules with native packages left external, and the page carries the CSP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CSP_META } from '../../main/app/policy.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let out: string;

beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'rws-app-build-'));
  await promisify(execFile)(process.execPath, [path.join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build', '--outDir', out, '-l', 'error'], {
    cwd: repo,
    env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
  });
}, 180_000);
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('desktop build', () => {
  it('emits the preload as CommonJS that needs nothing but electron', async () => {
    expect(await readdir(path.join(out, 'preload'))).toEqual(['index.cjs']);
    const code = await readFile(path.join(out, 'preload', 'index.cjs'), 'utf8');
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    const required = [...code.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
    expect(new Set(required)).toEqual(new Set(['electron']));
    expect(code).toContain('exposeInMainWorld("rws"');
    // Types only from the contract: zod must not be bundled into the preload.
    expect(code).not.toContain('zod');
  });

  it('emits main and the engine entry as ES modules with native packages external', async () => {
    const main = await readFile(path.join(out, 'main', 'index.js'), 'utf8');
    const engine = await readFile(path.join(out, 'main', 'engine-process.js'), 'utf8');
    expect(main).toMatch(/^import .* from "electron";$/m);
    expect(main).toContain('utilityProcess.fork');
    expect(engine).toContain('parentPort');
    for (const code of [main, engine]) {
      expect(code).not.toContain('onnxruntime-node/dist');
      expect(code).not.toMatch(/require\(["']sharp["']\)/);
    }
  });

  it('writes the CSP into the page', async () => {
    const html = await readFile(path.join(out, 'renderer', 'index.html'), 'utf8');
    expect(html).toContain(`content="${CSP_META}"`);
    expect(html).not.toContain('%RWS_CSP%');
  });
});
