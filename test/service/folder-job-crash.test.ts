// Crash isolation of a folder run in the service: the inference worker (onnxruntime in a worker
// thread, the real RemotePatcher) is terminated in the middle of a run; the run says so, makes its
// model again and resumes from its journal, and its results.json equals an uninterrupted run's.
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FolderProgress, RwsEvents } from '../../main/api/contract.js';
import { RemotePatcher } from '../../main/engine/runtime/remote-patcher.js';
import type { ClassifierFactory } from '../../main/service/models.js';
import { createService, type Service } from '../../main/service/index.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { testImage } from '../engine/folder/fixtures.js';
import { writeFixturePack } from './fixture-pack.js';

const COUNT = 240;
let tmp: string;
let images: string;
let service: Service;
const patchers: RemotePatcher[] = [];

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-crash-')));
  writeFixturePack(path.join(tmp, 'pack'));
  images = path.join(tmp, 'images');
  mkdirSync(images);
  for (let i = 0; i < COUNT; i++) await testImage(i, 30, 30).png().toFile(path.join(images, `${String(i).padStart(3, '0')}.png`));
  writeFileSync(path.join(images, 'broken.png'), 'not an image');
  const workerUrl = compiledWorkerUrl();
  const factory: ClassifierFactory = async (m, s, o) => {
    const p = await RemotePatcher.create(m, s, { device: o.device, force: o.force, threads: 1, workerUrl });
    patchers.push(p);
    return p;
  };
  service = await createService({ roots: [tmp], packDir: path.join(tmp, 'pack'), classifierFactory: factory });
  await service.call('loadPack', {});
}, 120_000);

afterAll(async () => {
  await service?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

function runTo(output: string, onProgress: (p: FolderProgress) => void = () => {}): Promise<FolderProgress> {
  return new Promise((resolve, reject) => {
    const off = service.on('progress', (p) => {
      if (p.kind !== 'folder') return;
      onProgress(p);
      if (p.phase === 'done' || p.phase === 'failed') {
        off();
        resolve(p);
      }
    });
    service.call('startFolderRun', { inputs: [images], output, mix: 'fog=0.7', top: 3, batch: 2 }).catch(reject);
  });
}

type Report = { pack: string; mix: unknown; device: string; results: { file: string; top: { index: number; label: string; score: number }[] }[]; failed: unknown[] };

describe('a folder run whose engine is killed', () => {
  it('reports it, restarts the engine, resumes from the journal and ends with the uninterrupted results', async () => {
    const plain = await runTo(path.join(tmp, 'plain'));
    expect(plain).toMatchObject({ phase: 'done', done: COUNT, failed: 1 });

    const errors: RwsEvents['error'][] = [];
    const offErr = service.on('error', (e) => errors.push(e));
    let killed = false;
    const phases: string[] = [];
    const last = await runTo(path.join(tmp, 'crashed'), (p) => {
      phases.push(p.phase);
      if (!killed && p.phase === 'running' && p.done >= 40) {
        killed = true;
        // The newest patcher is the run's own model; terminating its worker is what a crash of onnxruntime looks like.
        void (patchers.at(-1) as unknown as { worker: Worker }).worker.terminate();
      }
    });
    offErr();
    expect(killed).toBe(true);
    expect(errors).toEqual([expect.objectContaining({ code: 'worker-exited', source: 'engine', message: expect.stringContaining('resumes from its journal') })]);
    expect(last).toMatchObject({ phase: 'done', done: COUNT, failed: 1 });
    // It resumed: files from the journal were not classified again.
    expect(last.resumed).toBeGreaterThan(0);
    expect(phases.lastIndexOf('starting')).toBeGreaterThan(phases.indexOf('running'));

    const a = JSON.parse(readFileSync(path.join(tmp, 'plain', 'results.json'), 'utf8')) as Report;
    const b = JSON.parse(readFileSync(path.join(tmp, 'crashed', 'results.json'), 'utf8')) as Report;
    expect(b.results).toHaveLength(COUNT);
    expect({ ...b, results: null }).toEqual({ ...a, results: null });
    expect(b.results.map((r) => r.file)).toEqual(a.results.map((r) => r.file));
    b.results.forEach((r, i) => {
      expect(r.top.map((t) => t.label)).toEqual(a.results[i]!.top.map((t) => t.label));
      r.top.forEach((t, j) => expect(Math.abs(t.score - a.results[i]!.top[j]!.score)).toBeLessThanOrEqual(1e-6));
    });
    const paged = await service.call('getFolderResults', {});
    expect(paged.results).toHaveLength(COUNT);
  }, 120_000);
});
