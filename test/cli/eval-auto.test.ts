// `rws eval --mix auto` on the fixture pack with a classifier made from synthetic items, on the
// first Fashion-MNIST test images (skipped where the dataset is not installed).
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  it('prints auto vs oracle vs clean per condition and the stream figures, and writes them as JSON', async () => {
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
    const json = path.join(tmp, 'auto.json');
    try {
      expect(await main(['node', 'rws', 'eval', '--pack', pack, '--mix', 'auto', '--limit', '60', '--severities', '3', '--data', data, '--json', json])).toBe(0);
    } finally {
      log.mockRestore();
    }
    const text = out.join('\n');
    expect(text).toContain('| condition | clean model | oracle | auto per image |');
    expect(text).toContain('| fog |');
    expect(text).toContain('| low-light |');
    const r = JSON.parse(await readFile(json, 'utf8'));
    expect(r.rows.map((x: { condition: string }) => x.condition)).toEqual(['clean', 'fog', 'low-light']);
    expect(r.rows[0].picked).toBeGreaterThan(0.5);
    expect(r.stream.frames).toBeGreaterThan(0);
  });
});
