// Camera frames with `auto`: the model's outputs (and the pack's classifier, where it has one)
// follow the frames, patch the model when the weather changes, and say what was picked and how sure.
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { createService, type Service } from '../../main/service/index.js';
import { smallClassifier, syntheticItems } from '../engine/auto/fixtures.js';
import { fakeFactory, type FakeClassifier } from './fake-classifier.js';
import { writeFixturePack } from './fixture-pack.js';

let tmp: string;
let service: Service;
let bare: string;
let factory: ReturnType<typeof fakeFactory>;

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-frame-auto-')));
  const pack = writeFixturePack(path.join(tmp, 'pack'));
  const file = path.join(pack, 'pack.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), autoMix: { classifier: smallClassifier() } }));
  bare = writeFixturePack(path.join(tmp, 'bare'));
  factory = fakeFactory();
  service = await createService({ roots: [tmp], packDir: pack, classifierFactory: factory });
});
afterAll(async () => {
  await service?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const items = syntheticItems(60, 8);
const frame = (img: Image) => ({ width: 28, height: 28, channels: 1 as const, data: Float32Array.from(img.data), auto: true });

describe('classifyFrame with auto', () => {
  it('stays clean on clean frames, moves to fog when fog sets in, and shows the mix in the state', async () => {
    for (let f = 0; f < 10; f++) {
      const r = await service.call('classifyFrame', frame(items[f]!));
      expect(r.auto?.id).toBe('clean');
      expect(r.mixKey).toBe('off');
    }
    const seen: string[] = [];
    let switchedAt = -1;
    for (let f = 0; f < 15; f++) {
      const r = await service.call('classifyFrame', frame(corrupt(items[20 + f]!, 'fog', 4, f)));
      seen.push(r.auto!.id);
      if (r.auto!.switched) switchedAt = f;
    }
    expect(switchedAt).toBeGreaterThanOrEqual(0);
    expect(switchedAt).toBeLessThan(10);
    expect(seen.slice(switchedAt)).toEqual(Array(15 - switchedAt).fill('fog'));
    const last = await service.call('classifyFrame', frame(corrupt(items[50]!, 'fog', 4, 99)));
    expect(last.mixKey).toBe('fog=1');
    expect(last.auto!.confidence).toBeGreaterThan(0.5);
    expect((await service.call('getState', undefined)).mixKey).toBe('fog=1');
  });

  it('a steady scene patches nothing per frame, and a frame waits for no check of a challenger', async () => {
    const model = factory.made.at(-1) as FakeClassifier;
    // Runs that take a while, counted when they end: a check queued behind a frame cannot end before the frame's caller has its result.
    factory.delay.ms = 3;
    let ended = 0;
    const run = model.run.bind(model);
    model.run = async (x, d) => {
      const out = await run(x, d);
      ended++;
      return out;
    };
    const calls = model.calls.length;
    const fog = (f: number) => frame(corrupt(items[f % 60]!, 'fog', 4, 200 + f));
    try {
      for (let f = 0; f < 30; f++) {
        const before = ended;
        await service.call('classifyFrame', fog(f));
        expect(ended - before, `frame ${f}`).toBe(1);
        // A camera's next frame comes later: the check (if any) runs in between.
        await new Promise((r) => setTimeout(r, 15));
      }
    } finally {
      factory.delay.ms = 0;
    }
    const made = model.calls.slice(calls);
    // Frames under the mix already in force do not set it again: mix changes come only from the
    // checks of challengers (each sets the challenger and back), one in 25 frames on a steady scene.
    const sets = made.filter((c) => c.startsWith('setMix'));
    const checks = made.filter((c) => c.startsWith('run')).length - 30;
    expect(checks).toBeGreaterThan(0);
    expect(checks).toBeLessThan(5);
    expect(sets.length).toBe(2 * checks);
  });

  it('without auto, frames leave the mix alone', async () => {
    const r = await service.call('classifyFrame', { ...frame(items[0]!), auto: false });
    expect(r.auto).toBeUndefined();
    expect(r.mixKey).toBe('fog=1');
  });

  it('a pack without a classifier still gets auto: the model\'s own outputs choose, starting clean', async () => {
    await service.call('loadPack', { dir: bare });
    const r = await service.call('classifyFrame', frame(items[0]!));
    expect(r.auto?.id).toBe('clean');
    expect(r.mixKey).toBe('off');
  });
});
