// `rws run --mix auto`: the pack's condition classifier picks each file's mix, and the results say which.
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
  it('chooses each file mix with the pack classifier and records it per file', async () => {
    const json = path.join(tmp, 'auto.json');
    const r = await rws('run', '--pack', pack, '--mix', 'auto', '--json', json, '--quiet', photos);
    expect(r.code).toBe(0);
    expect(r.err).toContain('mix auto (per file)');
    const report = JSON.parse(await readFile(json, 'utf8'));
    expect(report.mix).toBe('auto');
    expect(report.results).toHaveLength(12);
    let right = 0;
    for (const res of report.results) {
      const kind = path.basename(res.file).replace(/-\d+\.png$/, '');
      if (JSON.stringify(res.mix) === JSON.stringify(kind === 'clean' ? {} : { [kind]: 1 })) right++;
    }
    expect(right).toBeGreaterThanOrEqual(11);
  });

  it('refuses --mix auto on a pack without a classifier, naming the field', async () => {
    const bare = writeFixturePack(path.join(tmp, 'bare'));
    const r = await rws('run', '--pack', bare, '--mix', 'auto', '--quiet', photos);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('autoMix.classifier');
  });

  it('rejects an unknown --auto-by', async () => {
    const r = await rws('run', '--pack', pack, '--mix', 'auto', '--auto-by', 'frame', photos);
    expect(r.code).toBe(2);
  });
});
