// The service over the real engine (RemotePatcher: onnxruntime in a worker thread) on the fixture pack.
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemotePatcher } from '../../main/engine/runtime/remote-patcher.js';
import { createService, type Service } from '../../main/service/index.js';
import type { ClassifierFactory } from '../../main/service/models.js';
import type { FolderProgress } from '../../main/api/contract.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { writeFixturePack } from './fixture-pack.js';

let tmp: string;
let service: Service;

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-real-')));
  writeFixturePack(path.join(tmp, 'pack'));
  const images = path.join(tmp, 'images');
  mkdirSync(images);
  for (let i = 0; i < 6; i++) {
    await sharp({ create: { width: 30, height: 30, channels: 3, background: { r: 40 * i, g: 20 * i, b: 10 } } }).png().toFile(path.join(images, `${i}.png`));
  }
  const workerUrl = compiledWorkerUrl();
  const factory: ClassifierFactory = (m, s, o) => RemotePatcher.create(m, s, { device: o.device, force: o.force, threads: 1, workerUrl });
  service = await createService({ roots: [tmp], packDir: path.join(tmp, 'pack'), classifierFactory: factory });
});

afterAll(async () => {
  await service?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('service over the real engine', () => {
  const frame = () => ({ width: 28, height: 28, channels: 1 as const, data: Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 101) / 100), compare: true, top: 10 });

  it('patched equals clean exactly with the mix off, and differs with a signature on', async () => {
    const info = await service.call('loadPack', {});
    expect(info.signatures.every((s) => s.available && s.baseMatch)).toBe(true);
    const off = await service.call('classifyFrame', frame());
    expect(off.patched).toEqual(off.clean);
    const set = await service.call('setMix', { mix: { fog: 1, 'low-light': 1 } });
    expect(set.key).toBe('fog=1,low-light=1');
    const on = await service.call('classifyFrame', frame());
    expect(on.mixKey).toBe('fog=1,low-light=1');
    expect(on.clean).toEqual(off.clean);
    expect(on.patched.map((p) => p.score)).not.toEqual(off.patched.map((p) => p.score));
    await service.call('setMix', { mix: 'off' });
    expect((await service.call('classifyFrame', frame())).patched).toEqual(off.patched);
    const state = await service.call('getState', undefined);
    expect(state.device.device).toBe('cpu');
    expect(state.strategy).toBeTypeOf('string');
  });

  it('runs a folder', async () => {
    const done = new Promise<FolderProgress>((resolve) => {
      const off = service.on('progress', (p) => {
        if (p.kind === 'folder' && (p.phase === 'done' || p.phase === 'failed')) {
          off();
          resolve(p);
        }
      });
    });
    await service.call('startFolderRun', { inputs: [path.join(tmp, 'images')], output: path.join(tmp, 'out'), mix: 'fog=0.5' });
    const p = await done;
    expect(p).toMatchObject({ phase: 'done', done: 6, failed: 0 });
    const r = await service.call('getFolderResults', {});
    expect(r.results.map((x) => x.file)).toEqual(['0.png', '1.png', '2.png', '3.png', '4.png', '5.png']);
    expect(r.device).toBe('cpu');
  });
});
