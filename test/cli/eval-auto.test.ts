// `rws eval --mix auto` on the fixture pack, on the first Fashion-MNIST test images with conditions
// simulated (skipped where the dataset is not installed), and on a labelled folder as it is.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../main/cli/index.js';
import { fashionMnistDir } from '../../main/engine/io/idx.js';
import { smallClassifier } from '../engine/auto/fixtures.js';
import { writeFixturePack } from '../service/fixture-pack.js';

const data = fashionMnistDir();
const have = existsSync(path.join(data, 't10k-images-idx3-ubyte.gz'));
let tmp: string;
let pack: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-eval-auto-'));
  pack = writeFixturePack(path.join(tmp, 'pack'));
  const manifest = JSON.parse(await readFile(path.join(pack, 'pack.json'), 'utf8'));
  manifest.autoMix = { classifier: smallClassifier() };
  await writeFile(path.join(pack, 'pack.json'), JSON.stringify(manifest));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!have)('rws eval --mix auto', () => {
  it('prints Auto against the clean model and the best mix with hindsight per family and strength, and writes them as JSON', async () => {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
    const json = path.join(tmp, 'auto.json');
    try {
      expect(await main(['node', 'rws', 'eval', '--pack', pack, '--mix', 'auto', '--limit', '60', '--severities', '3', '--conditions', 'fog,low-light', '--families', 'physical', '--data', data, '--json', json])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const text = out.join('\n');
    expect(text).toContain('| condition | family | strength | clean model | best mix (hindsight) | auto |');
    expect(text).toContain('| fog | physical | 3 |');
    expect(text).toContain('| low-light | physical | 3 |');
    const r = JSON.parse(await readFile(json, 'utf8'));
    expect(r.rows.map((x: { condition: string }) => x.condition)).toEqual(['clean', 'fog', 'low-light']);
    for (const row of r.rows) {
      // Every image ran under exactly one candidate.
      const shares = Object.values(row.picks as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(shares).toBeCloseTo(1, 9);
      for (const id of Object.keys(row.picks)) expect(Object.keys(row.candidates)).toContain(id);
    }
    expect(r.stream.frames).toBeGreaterThan(0);
  });

  it('measures a labelled folder as it is with --as-is', async () => {
    const folder = path.join(tmp, 'as-is');
    for (const [i, label] of ['Trouser', 'Bag'].entries()) {
      await mkdir(path.join(folder, label), { recursive: true });
      await sharp(Buffer.alloc(28 * 28, 40 + 100 * i), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(folder, label, 'a.png'));
    }
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
    try {
      expect(await main(['node', 'rws', 'eval', '--pack', pack, '--mix', 'auto', '--as-is', '--data', folder])).toBe(0);
    } finally {
      log.mockRestore();
    }
    expect(out.join('\n')).toContain('| as given | – | – |');
  });
});
