// `rws run --mix auto`: the model's own outputs choose the mix (sample, then commit), the results say which per
// file, and each file's scores are exactly those of its mix run on its own.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../main/cli/index.js';
import { corrupt } from '../../main/core/corruptions/index.js';
import { compiledWorkerUrl } from '../engine/runtime/compiled-worker.js';
import { smallClassifier, syntheticItems } from '../engine/auto/fixtures.js';
import { writeFixturePack } from '../service/fixture-pack.js';

let tmp: string;
let pack: string;
let photos: string;
const KINDS = ['clean', 'fog', 'low-light'] as const;

async function rws(...args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  process.exitCode = undefined;
  try {
    return { code: await main(['node', 'rws', ...args]), err: err.join('\n') };
  } finally {
    process.exitCode = undefined;
    log.mockRestore();
    error.mockRestore();
  }
}

beforeAll(async () => {
  process.env.RWS_INFERENCE_WORKER = fileURLToPath(compiledWorkerUrl());
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-run-auto-'));
  pack = writeFixturePack(path.join(tmp, 'pack'));
  const manifest = JSON.parse(await readFile(path.join(pack, 'pack.json'), 'utf8'));
  manifest.autoMix = { classifier: smallClassifier() };
  await writeFile(path.join(pack, 'pack.json'), JSON.stringify(manifest));
  photos = path.join(tmp, 'photos');
  await mkdir(photos);
  const items = syntheticItems(12, 77);
  for (let i = 0; i < items.length; i++) {
    const kind = KINDS[i % 3]!;
    const img = kind === 'clean' ? items[i]! : corrupt(items[i]!, kind, 4, i);
    const px = Buffer.from(Uint8Array.from(img.data, (v) => Math.round(v * 255)));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(photos, `${kind}-${i}.png`));
  }
});
afterAll(async () => {
  delete process.env.RWS_INFERENCE_WORKER;
  await rm(tmp, { recursive: true, force: true });
});

describe('rws run --mix auto', () => {
  it('records the mix of each file, whose scores are those of that mix run as a fixed mix', async () => {
    const json = path.join(tmp, 'auto.json');
    const r = await rws('run', '--pack', pack, '--mix', 'auto', '--json', json, '--quiet', photos);
    expect(r.code).toBe(0);
    expect(r.err).toContain('mix auto (sample, then commit;');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.mix).toBe('auto');
    expect(report.results).toHaveLength(12);
    const candidates = [{}, { fog: 1 }, { 'low-light': 1 }, { fog: 0.75, 'low-light': 0.5 }].map((m) => JSON.stringify(m));
    const byMix = new Map<string, { file: string; top: { index: number; score: number }[] }[]>();
    for (const res of report.results) {
      expect(candidates).toContain(JSON.stringify(res.mix));
      const key = Object.entries(res.mix as Record<string, number>).map(([k, v]) => `${k}=${v}`).join(',') || 'off';
      byMix.set(key, [...(byMix.get(key) ?? []), res]);
    }
    for (const [mix, rows] of byMix) {
      const fixed = path.join(tmp, `fixed-${mix}.json`);
      expect((await rws('run', '--pack', pack, '--mix', mix, '--json', fixed, '--quiet', photos)).code).toBe(0);
      const again = new Map<string, { index: number; score: number }[]>(JSON.parse(await readFile(fixed, 'utf8')).results.map((x: { file: string; top: unknown }) => [x.file, x.top]));
      for (const row of rows) {
        const top = again.get(row.file)!;
        expect(top.map((t) => t.index)).toEqual(row.top.map((t) => t.index));
        top.forEach((t, i) => expect(Math.abs(t.score - row.top[i]!.score)).toBeLessThan(1e-6));
      }
    }
  });

  it('needs no condition classifier: a pack without one chooses by its outputs too', async () => {
    const bare = writeFixturePack(path.join(tmp, 'bare'));
    const r = await rws('run', '--pack', bare, '--mix', 'auto', '--auto-by', 'file', '--quiet', photos);
    expect(r.code).toBe(0);
  });

  it('rejects an unknown --auto-by', async () => {
    const r = await rws('run', '--pack', pack, '--mix', 'auto', '--auto-by', 'frame', photos);
    expect(r.code).toBe(2);
  });
});
