// Camera frames with `auto`: the model's outputs (and the pack's classifier, where it has one)
// follow the frames, patch the model when the weather changes, and say what was picked and how sure.
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corrupt, type Image } from '../../main/core/corruptions/index.js';
import { createService, type Service } from '../../main/service/index.js';
import { smallClassifier, syntheticItems } from '../engine/auto/fixtures.js';
import { fakeFactory } from './fake-classifier.js';
import { writeFixturePack } from './fixture-pack.js';

let tmp: string;
let service: Service;
let bare: string;

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'rws-frame-auto-')));
  const pack = writeFixturePack(path.join(tmp, 'pack'));
  const file = path.join(pack, 'pack.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), autoMix: { classifier: smallClassifier() } }));
  bare = writeFixturePack(path.join(tmp, 'bare'));
  service = await createService({ roots: [tmp], packDir: pack, classifierFactory: fakeFactory() });
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
