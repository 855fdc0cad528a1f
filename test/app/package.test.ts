// electron-builder with a stand-in Electron (the real binary cannot be downloaded here): checks
// what lands in app.asar, what is unpacked (native packages, this platform's onnxruntime only),
// and that the default pack ships as an extra resource with its signatures inside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const built = existsSync(path.join(repo, 'out', 'main', 'index.js')) && existsSync(path.join(repo, 'dist', 'main', 'service', 'index.js'));
if (!built) console.log('test/app/package.test.ts: SKIPPED, run `npm run build:app` first (it packages out/ and dist/).');
if (process.platform !== 'linux') console.log('test/app/package.test.ts: SKIPPED, the stand-in packaging check runs on Linux.');

describe.skipIf(!built || process.platform !== 'linux')('electron-builder package (stand-in Electron)', () => {
  let tmp: string;
  let resources: string;
  let asarFiles: string[];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-package-'));
    const fake = path.join(tmp, 'electron-dist');
    await mkdir(fake, { recursive: true });
    await writeFile(path.join(fake, 'electron'), '#!/bin/sh\necho stand-in electron\n');
    await chmod(path.join(fake, 'electron'), 0o755);
    await writeFile(path.join(fake, 'version'), '41.10.7');
    const cli = path.join(repo, 'node_modules', 'electron-builder', 'cli.js');
    await promisify(execFile)(
      process.execPath,
      [cli, '--linux', 'dir', '--config', 'electron-builder.yml', `-c.electronDist=${fake}`, '-c.electronVersion=41.10.7', `-c.directories.output=${path.join(tmp, 'release')}`],
      { cwd: repo, maxBuffer: 16 << 20 },
    );
    resources = path.join(tmp, 'release', 'linux-unpacked', 'resources');
    const asar = createRequire(import.meta.url)('@electron/asar') as { listPackage(p: string): string[] };
    asarFiles = asar.listPackage(path.join(resources, 'app.asar'));
  }, 300_000);

  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('puts the built app in app.asar and nothing of the sources, tests or notes', () => {
    const tops = new Set(asarFiles.map((p) => p.split(/[\\/]/)[1]));
    expect([...tops].sort()).toEqual(['bin', 'dist', 'node_modules', 'out', 'package.json']);
    for (const f of ['/out/main/index.js', '/out/main/engine-process.js', '/out/preload/index.cjs', '/out/main/inference-worker.js', '/out/renderer/index.html', '/dist/main/cli/index.js']) {
      expect(asarFiles.map((p) => p.replaceAll('\\', '/'))).toContain(f);
    }
    expect(asarFiles.some((p) => /\.(ts|map)$/.test(p) && !p.includes('node_modules'))).toBe(false);
    expect(asarFiles.some((p) => p.includes('/dist/test/'))).toBe(false);
  });

  it('unpacks onnxruntime-node (this platform only), sharp and @img', async () => {
    const unpacked = path.join(resources, 'app.asar.unpacked', 'node_modules');
    expect((await readdir(unpacked)).sort()).toEqual(['@img', 'onnxruntime-node', 'sharp']);
    const napi = path.join(unpacked, 'onnxruntime-node', 'bin', 'napi-v6');
    expect(await readdir(napi)).toEqual(['linux']);
  });

  it('ships the default pack, with its signatures inside, as extra resources', async () => {
    const packJson = path.join(repo, 'native-models', 'fashion-mnist', 'pack.json');
    if (!existsSync(packJson)) {
      console.log('package.test: the default pack is not in the tree yet; extra resources not checked');
      return;
    }
    const pack = path.join(resources, 'native-models', 'fashion-mnist');
    expect(existsSync(path.join(pack, 'pack.json'))).toBe(true);
    const sigs = (await readdir(path.join(repo, 'signatures', 'fashion-mnist'))).filter((f) => f.endsWith('.rws.safetensors'));
    for (const s of sigs) expect(existsSync(path.join(pack, 'signatures', s))).toBe(true);
    for (const s of sigs) expect(existsSync(path.join(resources, 'signatures', 'fashion-mnist', s))).toBe(true);
  });
});
