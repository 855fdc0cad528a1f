import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync, readFileSync, realpathSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../main/service/index.js';
import { corrupt } from '../../main/core/corruptions/index.js';
import type { EngineState, DeviceChange } from '../../main/api/contract.js';
import { RwsError } from '../../main/core/errors.js';
import { fakeFactory, FakeClassifier } from './fake-classifier.js';
import { writeFixturePack, FIXTURE_LABELS } from './fixture-pack.js';
import { HOSTILE_CASES, makeHostileRoot, SECRET, writeHostilePack } from '../fixtures/hostile-pack.js';

let tmp: string;
let root: string;
let outside: string;
let service: Service;
let factory: ReturnType<typeof fakeFactory>;

async function rejects(p: Promise<unknown>): Promise<RwsError> {
  try {
    await p;
  } catch (e) {
    return e as RwsError;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-service-')));
  root = path.join(tmp, 'root');
  outside = path.join(tmp, 'outside');
  mkdirSync(path.join(root, 'photos', 'sub'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFixturePack(path.join(root, 'pack'));
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 10, b: 10 } } }).png().toFile(path.join(root, 'photos', 'red.png'));
  writeFileSync(path.join(root, 'photos', 'notes.txt'), 'hello');
  writeFileSync(path.join(outside, 'secret.png'), 'x');
  symlinkSync(outside, path.join(root, 'photos', 'escape'));
  symlinkSync(path.join(root, 'photos', 'sub'), path.join(root, 'photos', 'inner-link'));
  factory = fakeFactory();
  service = await createService({ roots: [root], packDir: path.join(root, 'pack'), classifierFactory: factory });
});

afterAll(async () => {
  await service?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

describe('pack and mix', () => {
  it('loads the default pack on first need and describes its signatures', async () => {
    expect(await service.call('getPack', undefined)).toBeNull();
    const info = await service.call('loadPack', {});
    expect(info.id).toBe('fixture');
    expect(info.labels).toEqual(FIXTURE_LABELS);
    expect(info.input).toMatchObject({ width: 28, height: 28, channels: 1 });
    expect(info.signatures.map((s) => [s.id, s.available, s.quant, s.baseMatch])).toEqual([
      ['fog', true, 'int8', true],
      ['low-light', true, 'int8', true],
    ]);
    expect(info.conditions.map((c) => c.name)).toEqual(['Fog', 'Low light']);
    expect(info.mixes[0]!.mix).toEqual({ fog: 1, 'low-light': 1 });
    expect(factory.made.at(-1)!.signatures.sort()).toEqual(['fog', 'low-light']);
    const state = await service.call('getState', undefined);
    expect(state).toMatchObject({ status: 'ready', mixKey: 'off', pack: { id: 'fixture' } });
  });

  it('sets a mix from a record, from text, from a named mix, and back to off', async () => {
    const seen: EngineState[] = [];
    const off = service.on('engineState', (s) => seen.push(s));
    expect((await service.call('setMix', { mix: { fog: 0.8 } })).key).toBe('fog=0.8');
    expect(factory.made.at(-1)!.mix).toEqual({ fog: 0.8 });
    expect((await service.call('setMix', { mix: 'fog=0.5,low-light=1' })).mix).toEqual({ fog: 0.5, 'low-light': 1 });
    expect((await service.call('setMix', { mix: 'foggy-night' })).key).toBe('fog=1,low-light=1');
    expect((await service.call('setMix', { mix: { fog: 0, 'low-light': 0 } })).key).toBe('off');
    expect((await service.call('setMix', { mix: 'off' })).mix).toEqual({});
    off();
    expect(seen.map((s) => s.mixKey)).toEqual(['fog=0.8', 'fog=0.5,low-light=1', 'fog=1,low-light=1', 'off', 'off']);
  });

  it('refuses unknown signatures and malformed mixes, naming the field', async () => {
    const e1 = await rejects(service.call('setMix', { mix: 'rain=1' }));
    expect(e1.code).toBe('mix-unknown');
    expect(e1.message).toContain('"rain"');
    expect(e1.field).toBe('mix');
    const e2 = await rejects(service.call('setMix', { mix: { fog: 99 } }));
    expect(e2.code).toBe('bad-argument');
    expect(e2.field).toBe('mix.fog');
    const e3 = await rejects(service.call('setMix', {}));
    expect(e3.code).toBe('bad-argument');
  });
});

describe.skipIf(process.platform === 'win32')('hostile packs through the API', () => {
  it('refuses each with its code, naming the file, and keeps the pack it had', async () => {
    const h = makeHostileRoot(path.join(root, 'hostile'));
    const before = (await service.call('getState', undefined)).pack;
    for (const kind of ['huge-input', 'fifo-model', 'model-links-outside', 'external-data-links-outside', 'std-underflows']) {
      const c = HOSTILE_CASES.find((x) => x.kind === kind)!;
      const dir = writeHostilePack(h, path.join(root, 'hostile', kind), c);
      const started = Date.now();
      const e = await rejects(service.call('loadPack', { dir }));
      expect(Date.now() - started, kind).toBeLessThan(10_000);
      expect(e.code, `${kind}: ${e.message}`).toBe(c.outcome !== 'opens' && 'refused' in c.outcome ? c.outcome.refused : '?');
      expect(e.message).toContain(path.join(dir, (c.outcome as { names: string }).names));
      expect(e.message).not.toContain(SECRET);
      expect((await service.call('getState', undefined)).pack).toEqual(before);
    }
  });
});

describe('classifyFrame', () => {
  const frame = (v: number) => ({ width: 28, height: 28, channels: 1 as const, data: new Float32Array(28 * 28).fill(v) });

  it('gives top-k of the patched and the clean model, with the mix it used', async () => {
    await service.call('setMix', { mix: 'off' });
    const a = await service.call('classifyFrame', { ...frame(0.5), compare: true, top: 3 });
    expect(a.patched).toHaveLength(3);
    expect(a.clean).toHaveLength(3);
    expect(a.patched[0]!.label).toBe(a.clean![0]!.label);
    expect(a.patched[0]!.score).toBeGreaterThan(a.patched[1]!.score);
    expect(a.patched.reduce((s, p) => s + p.score, 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(a.mixKey).toBe('off');
    await service.call('setMix', { mix: { fog: 1 } });
    const b = await service.call('classifyFrame', { ...frame(0.5), compare: true });
    expect(b.mixKey).toBe('fog=1');
    expect(b.patched[0]!.index).not.toBe(b.clean![0]!.index);
    expect(b.clean![0]!.index).toBe(a.clean![0]!.index);
    expect(b.patched).toHaveLength(5);
  });

  it('accepts plain number arrays and RGB frames for a grey model', async () => {
    const r = await service.call('classifyFrame', { width: 28, height: 28, channels: 3, data: Array(28 * 28 * 3).fill(0.2) });
    expect(r.patched[0]!.label).toBeTypeOf('string');
  });

  it('refuses a frame that is not at the model size', async () => {
    const e = await rejects(service.call('classifyFrame', { width: 32, height: 28, channels: 1, data: new Float32Array(32 * 28) }));
    expect([e.code, e.field]).toEqual(['frame-size', 'width']);
    expect(e.message).toContain('28×28');
  });

  it('a mix change acts on the very next frame', async () => {
    for (const mix of [{ fog: 1 }, {}, { 'low-light': 1 }, { fog: 0.5 }]) {
      const set = service.call('setMix', { mix });
      const r = await service.call('classifyFrame', frame(0.3));
      await set;
      expect(r.mixKey).toBe((await service.call('getState', undefined)).mixKey);
    }
  });
});

describe('a dead inference worker', () => {
  it('is reported, restarted with the same mix, and the next frame works', async () => {
    await service.call('setMix', { mix: { 'low-light': 0.4 } });
    const states: string[] = [];
    const errors: string[] = [];
    const offS = service.on('engineState', (s) => states.push(s.status));
    const offE = service.on('error', (e) => errors.push(e.code));
    const dead = service.engine.loaded!.patched as FakeClassifier;
    dead.crashNext = true;
    const frame = { width: 28, height: 28, channels: 1 as const, data: new Float32Array(784).fill(0.5) };
    const e = await rejects(service.call('classifyFrame', frame));
    expect(e.code).toBe('worker-exited');
    offS();
    offE();
    expect(errors).toEqual(['worker-exited']);
    expect(states).toEqual(['crashed', 'ready']);
    const now = service.engine.loaded!.patched as FakeClassifier;
    expect(now).not.toBe(dead);
    expect(now.mix).toEqual({ 'low-light': 0.4 });
    expect(dead.disposed).toBe(true);
    expect((await service.call('classifyFrame', frame)).mixKey).toBe('low-light=0.4');
  });
});

describe('devices', () => {
  it('lists Auto first, CPU available', async () => {
    const list = await service.call('listDevices', undefined);
    expect(list[0]!.id).toBe('auto');
    expect(list.find((d) => d.id === 'cpu')!.available).toBe(true);
  });

  it('moves the models to another device and keeps the mix', async () => {
    await service.call('setMix', { mix: { fog: 0.7 } });
    const changes: DeviceChange[] = [];
    const off = service.on('deviceChange', (d) => changes.push(d));
    const before = factory.made.length;
    const r = await service.call('setDevice', { device: 'cpu' });
    off();
    expect(r).toMatchObject({ requested: 'cpu', device: 'cpu' });
    expect(factory.made.length).toBe(before + 1);
    expect(factory.made.at(-1)!.mix).toEqual({ fog: 0.7 });
    expect(factory.made.slice(0, before).every((c) => c.disposed)).toBe(true);
    expect(changes).toEqual([{ requested: 'cpu', device: 'cpu' }]);
    const e = await rejects(service.call('setDevice', { device: 'coreml' }));
    expect(e.code).toBe('device-unavailable');
  });
});

describe('paths under the roots', () => {
  it('lists the roots and browses inside them', async () => {
    expect(await service.call('listRoots', undefined)).toEqual([{ path: root, name: 'root' }]);
    const b = await service.call('browse', { dir: path.join(root, 'photos') });
    expect(b.parent).toBe(root);
    expect(b.entries.map((e) => [e.name, e.kind, e.image])).toEqual([
      ['inner-link', 'dir', undefined],
      ['sub', 'dir', undefined],
      ['notes.txt', 'file', false],
      ['red.png', 'file', true],
    ]);
    // Images in the sub-folders are counted (a link among them as a folder, as a run would walk it).
    expect(b.below).toEqual({ images: 0, complete: true });
    await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(path.join(root, 'photos', 'sub', 'deep.png'));
    expect((await service.call('browse', { dir: path.join(root, 'photos') })).below).toEqual({ images: 2, complete: true });
    rmSync(path.join(root, 'photos', 'sub', 'deep.png'));
    expect((await service.call('browse', { dir: root })).parent).toBeNull();
    expect((await service.call('browse', { dir: 'photos' })).dir).toBe(path.join(root, 'photos'));
  });

  it('refuses paths outside the roots, also through symlinks and ..', async () => {
    for (const dir of [outside, path.join(root, 'photos', 'escape'), path.join(root, '..', 'outside'), '/etc', path.join(outside, 'nope')]) {
      const e = await rejects(service.call('browse', { dir }));
      expect(e.code, dir).toBe('outside-roots');
      expect(e.field).toBe('dir');
    }
    const e = await rejects(service.call('getThumbnail', { file: path.join(root, 'photos', 'escape', 'secret.png') }));
    expect(e.code).toBe('outside-roots');
    const missing = await rejects(service.call('browse', { dir: path.join(root, 'nope') }));
    expect(missing.code).toBe('not-found');
  });

  it('makes thumbnails of images inside the roots', async () => {
    const t = await service.call('getThumbnail', { file: path.join(root, 'photos', 'red.png'), size: 20 });
    expect(t.dataUrl.startsWith('data:image/png;base64,')).toBe(true);
    expect([t.width, t.height]).toEqual([20, 15]);
    const e = await rejects(service.call('getThumbnail', { file: path.join(root, 'photos', 'notes.txt') }));
    expect(e.code).toBe('not-image');
  });

  it('uploads dropped files into a run folder under the first root, never outside, never over a file', async () => {
    const png = new Uint8Array(readFileSync(path.join(root, 'photos', 'red.png')));
    const up = await service.call('uploadFiles', { files: [{ name: 'a.png', data: png }, { name: 'nested/dir/b.png', data: png }] });
    expect(path.dirname(up.folder)).toBe(path.join(root, 'rws-uploads'));
    expect(up.written).toBe(2);
    expect(existsSync(path.join(up.folder, 'nested', 'dir', 'b.png'))).toBe(true);
    const more = await service.call('uploadFiles', { folder: up.folder, files: [{ name: 'c.png', data: png }] });
    expect(more.folder).toBe(up.folder);
    const again = await rejects(service.call('uploadFiles', { folder: up.folder, files: [{ name: 'c.png', data: png }] }));
    expect(again.code).toBe('exists');
    for (const name of ['../x.png', '/../../x.png', 'a/../../x.png', '..']) {
      const e = await rejects(service.call('uploadFiles', { files: [{ name, data: png }] }));
      expect(e.code, name).toBe('bad-argument');
    }
    const e = await rejects(service.call('uploadFiles', { folder: path.join(root, 'photos'), files: [{ name: 'x.png', data: png }] }));
    expect(e.code).toBe('bad-argument');
    const o = await rejects(service.call('uploadFiles', { folder: outside, files: [{ name: 'x.png', data: png }] }));
    expect(o.code).toBe('outside-roots');
  });
});

describe('previewCondition', () => {
  it('is the core corruption of the image', async () => {
    const data = Float32Array.from({ length: 16 * 16 }, (_, i) => (i % 16) / 16);
    const r = await service.call('previewCondition', { condition: 'fog', severity: 3, seed: 4, image: { width: 16, height: 16, channels: 1, data } });
    const want = corrupt({ width: 16, height: 16, channels: 1, data }, 'fog', 3, 4);
    expect(r.data).toEqual(want.data);
    const e = await rejects(service.call('previewCondition', { condition: 'hail', severity: 3, image: { width: 1, height: 1, channels: 1, data: [0] } }));
    expect(e.field).toBe('condition');
  });

  it('shows any generator family at a fractional strength, as rws corrupt makes it', async () => {
    const data = Float32Array.from({ length: 16 * 16 }, (_, i) => (i % 16) / 16);
    const r = await service.call('previewCondition', { condition: 'fog', family: 'physical', severity: 4.5, seed: 4, image: { width: 16, height: 16, channels: 1, data } });
    expect(r.data).toEqual(corrupt({ width: 16, height: 16, channels: 1, data }, 'fog/physical', 4.5, 4).data);
    expect(r.data).not.toEqual(corrupt({ width: 16, height: 16, channels: 1, data }, 'fog', 4, 4).data);
    const e = await rejects(service.call('previewCondition', { condition: 'fog', family: 'cloud', severity: 3, image: { width: 1, height: 1, channels: 1, data: [0] } }));
    expect([e.code, e.field]).toEqual(['usage-family', 'family']);
  });
});

describe('arguments', () => {
  it('are validated before any command runs', async () => {
    const e = await rejects(service.call('browse', { dir: 5 }));
    expect([e.code, e.field]).toEqual(['bad-argument', 'dir']);
    const u = await rejects(service.call('nope' as 'browse', {}));
    expect(u.code).toBe('unknown-command');
  });
});

describe('evaluate', () => {
  it('gives accuracy per condition and severity, clean vs patched, on a labelled folder', async () => {
    const data = path.join(root, 'labelled');
    for (const [label, v] of [['Trouser', 40], ['Dress', 200]] as const) {
      mkdirSync(path.join(data, label), { recursive: true });
      for (let i = 0; i < 3; i++) {
        await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: v + i, g: v + i, b: v + i } } }).png().toFile(path.join(data, label, `${i}.png`));
      }
    }
    const progress: number[] = [];
    const off = service.on('progress', (p) => p.kind === 'eval' && progress.push(p.done));
    const r = await service.call('evaluate', { data, severities: [1, 3], limit: 6 });
    off();
    expect(r.samples).toBe(6);
    expect(r.conditions.map((c) => [c.id, c.points.map((p) => p.severity)])).toEqual([
      ['fog', [1, 3]],
      ['low-light', [1, 3]],
    ]);
    for (const c of r.conditions) for (const p of c.points) for (const a of [p.clean, p.patched]) expect(a >= 0 && a <= 1).toBe(true);
    // Progress counts images (6 clean, then 6 per condition and severity), each through both models.
    expect(progress.at(-1)).toBe(30);
    const e = await rejects(service.call('evaluate', { data: outside }));
    expect(e.code).toBe('outside-roots');
    const e2 = await rejects(service.call('evaluate', { data, conditions: ['rain'] }));
    expect(e2.code).toBe('eval-condition');
  });
});

describe('evaluate, long ones', () => {
  it('gives its rate in images and an ETA, and cancelEvaluation stops it after the batch in hand', async () => {
    const data = path.join(root, 'labelled');
    const seen: import('../../main/api/contract.js').FolderProgress[] = [];
    const off = service.on('progress', (p) => p.kind === 'eval' && seen.push(p));
    factory.delay.ms = 30;
    try {
      const running = service.call('evaluate', { data, severities: [1, 2, 3, 4, 5], limit: 6 });
      await expect.poll(() => seen.filter((p) => p.phase === 'running' && p.done > 0).length).toBeGreaterThan(1);
      const busy = await rejects(service.call('evaluate', { data }));
      expect(busy.code).toBe('eval-busy');
      const p = await service.call('cancelEvaluation', undefined);
      expect(p?.phase).toBe('stopping');
      const e = await rejects(running);
      expect(e.code).toBe('cancelled');
    } finally {
      factory.delay.ms = 0;
      off();
    }
    const ticks = seen.filter((p) => p.phase === 'running' && p.done > 0);
    expect(ticks.every((p) => p.total === 66 && p.rate > 0 && p.eta !== null && p.eta >= 0)).toBe(true);
    expect(seen.at(-1)!.phase).toBe('stopped');
    expect(seen.at(-1)!.done).toBeLessThan(66);
    expect(await service.call('cancelEvaluation', undefined)).toBeNull();
  });
});

describe('classifyFile (the image view)', () => {
  it('gives the clean and the patched top-k of one file, with the mix asked for, and leaves the engine\'s mix as it was', async () => {
    await service.call('setMix', { mix: { 'low-light': 1 } });
    const file = path.join(root, 'photos', 'red.png');
    const r = await service.call('classifyFile', { file, mix: 'fog=1', top: 3 });
    expect(r.mixKey).toBe('fog=1');
    expect(r.patched).toHaveLength(3);
    expect(r.clean).toHaveLength(3);
    // The fake model moves its class by 3 per unit of fog.
    expect((r.patched[0]!.index - r.clean[0]!.index + 10) % 10).toBe(3);
    expect(r.input.dataUrl.startsWith('data:image/png;base64,')).toBe(true);
    expect([r.input.width, r.input.height]).toEqual([28, 28]);
    expect((await service.call('getState', undefined)).mixKey).toBe('low-light=1');
    const now = await service.call('classifyFile', { file });
    expect(now.mixKey).toBe('low-light=1');
    await service.call('setMix', { mix: 'off' });
  });

  it('runs an Auto hedge (mix and blend) as the folder run did: the patched top-k is the mean of both mixes\' probabilities', async () => {
    const file = path.join(root, 'photos', 'red.png');
    const fog = await service.call('classifyFile', { file, mix: 'fog=1', top: 10 });
    const low = await service.call('classifyFile', { file, mix: 'low-light=1', top: 10 });
    const both = await service.call('classifyFile', { file, mix: 'fog=1', blend: 'low-light=1', top: 10 });
    expect(both.mixKey).toBe('fog=1 | low-light=1');
    const p = (r: typeof fog, i: number) => r.patched.find((t) => t.index === i)?.score ?? 0;
    for (let i = 0; i < 10; i++) expect(p(both, i)).toBeCloseTo((p(fog, i) + p(low, i)) / 2, 5);
    expect((await service.call('getState', undefined)).mixKey).toBe('off');
  });

  it('simulates a condition on the image before both models see it, and refuses what is not an image', async () => {
    const file = path.join(root, 'photos', 'red.png');
    const plain = await service.call('classifyFile', { file });
    const fogged = await service.call('classifyFile', { file, simulate: { condition: 'fog', severity: 5, seed: 1 } });
    expect(fogged.simulated).toMatch(/^Fog · severity 5$/);
    expect(fogged.input.dataUrl).not.toBe(plain.input.dataUrl);
    const e = await rejects(service.call('classifyFile', { file: path.join(root, 'photos', 'notes.txt') }));
    expect(e.code).toBe('not-image');
    const o = await rejects(service.call('classifyFile', { file: path.join(outside, 'secret.png') }));
    expect(o.code).toBe('outside-roots');
  });
});

describe('devices that fail to start', () => {
  it('are listed as unavailable, with why, once the models fell back to the CPU', async () => {
    const fb = fakeFactory();
    const falling = (async (model: string, files: Map<string, string>, opts: { device: string }) => {
      const c = await fb(model, files, opts as never);
      if (opts.device !== 'webgpu') return c;
      return Object.assign(c, { device: 'cpu', fallback: 'device "webgpu" could not be used (Assertion failed: adapter); running on the CPU instead' });
    }) as unknown as typeof fb;
    const svc = await createService({ roots: [root], packDir: path.join(root, 'pack'), classifierFactory: falling });
    try {
      await svc.call('loadPack', undefined);
      const before = (await svc.call('listDevices', undefined)).find((d) => d.id === 'webgpu');
      if (!before?.available) return;
      const d = await svc.call('setDevice', { device: 'webgpu' });
      expect(d).toMatchObject({ requested: 'webgpu', device: 'cpu' });
      const after = (await svc.call('listDevices', undefined)).find((x) => x.id === 'webgpu')!;
      expect(after.available).toBe(false);
      expect(after.reason).toContain('could not start on this machine');
      expect(after.reason).not.toContain('Assertion');
    } finally {
      await svc.dispose();
    }
  });
});

describe('the engine instance', () => {
  it('differs between two engines, so a client tells a restarted server from the one it knew', async () => {
    const other = await createService({ roots: [root], packDir: path.join(root, 'pack'), classifierFactory: fakeFactory() });
    try {
      const [a, b] = [(await service.call('getState', undefined)).instance, (await other.call('getState', undefined)).instance];
      expect(a).toMatch(/^[0-9a-f]{12}$/);
      expect(b).not.toBe(a);
    } finally {
      await other.dispose();
    }
  });
});
