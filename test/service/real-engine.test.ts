// The service over the real engine (RemotePatcher: onnxruntime in a worker thread) on the fixture pack.
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemotePatcher } from '../../main/engine/runtime/remote-patcher.js';
import { generateSigningKeys, sha256Hex, signBytes } from '../../main/engine/packs/trust.js';
import { tinyConvNet } from '../fixtures/models.js';
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
  const factory: ClassifierFactory = (m, s, o) => RemotePatcher.create(m, s, { device: o.device, force: o.force, threads: 1, workerUrl, ...(o.expect ? { expect: o.expect } : {}) });
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

  it("uses only the bytes checked at load: a signed pack's model or signature replaced since is refused, naming it", async () => {
    const keys = path.join(tmp, 'keys');
    mkdirSync(keys);
    const k = generateSigningKeys();
    writeFileSync(path.join(keys, 'lab.pub.pem'), k.publicPem);
    const dir = writeFixturePack(path.join(tmp, 'signed'), { model: 'tiny' });
    const manifest = JSON.parse(readFileSync(path.join(dir, 'pack.json'), 'utf8'));
    manifest.modelSha256 = sha256Hex(readFileSync(path.join(dir, 'model.onnx')));
    writeFileSync(path.join(dir, 'pack.json'), JSON.stringify(manifest));
    const key = createPrivateKey(k.privatePem);
    for (const f of ['pack.json']) writeFileSync(path.join(dir, `${f}.sig`), JSON.stringify(signBytes(f, readFileSync(path.join(dir, f)), key)));
    process.env.RWS_TRUSTED_KEYS = keys;
    try {
      let runs = 0;
      // Each run into a folder of its own (a folder that holds a run is refused without resume or replace).
      const run = async (mix: string) => {
        const done = new Promise<FolderProgress>((resolve) => {
          const off = service.on('progress', (p) => {
            if (p.kind === 'folder' && (p.phase === 'done' || p.phase === 'failed')) {
              off();
              resolve(p);
            }
          });
        });
        await service.call('startFolderRun', { inputs: [path.join(tmp, 'images')], output: path.join(tmp, `out-${mix}-${++runs}`), mix });
        return done;
      };
      await service.call('loadPack', { dir });
      expect(await run('off')).toMatchObject({ phase: 'done', done: 6 });
      // Replaced after the load: another model with the same input and output.
      const model = path.join(dir, 'model.onnx');
      const original = readFileSync(model);
      writeFileSync(model, tinyConvNet(9).bytes);
      const p = await run('off');
      expect(p.phase).toBe('failed');
      expect(p.message).toBe(`${model}: the model changed after it was checked (SHA-256 ${sha256Hex(tinyConvNet(9).bytes).slice(0, 12)}…, checked ${manifest.modelSha256.slice(0, 12)}…); load the pack again`);
      writeFileSync(model, original);
      const fog = path.join(dir, 'signatures', 'fog.rws.safetensors');
      writeFileSync(fog, readFileSync(path.join(dir, 'signatures', 'low-light.rws.safetensors')));
      const q = await run('fog=1');
      expect(q.phase).toBe('failed');
      expect(q.message).toMatch(new RegExp(`^${fog.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the signature changed after it was checked`));
    } finally {
      delete process.env.RWS_TRUSTED_KEYS;
      await service.call('loadPack', {});
    }
  });
});
