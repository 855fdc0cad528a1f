import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rws } from './cli-harness.js';

let dir: string;
const sha = async (f: string) => createHash('sha256').update(await readFile(f)).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'rws-corrupt-'));
  await mkdir(path.join(dir, 'in', 'shirts'), { recursive: true });
  const grey = Buffer.alloc(28 * 28);
  for (let i = 0; i < grey.length; i++) grey[i] = (i * 7) % 256;
  await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace('b-w').png().toFile(path.join(dir, 'in', 'shirts', 'a.png'));
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg().toFile(path.join(dir, 'in', 'b.jpg'));
  await sharp({ create: { width: 16, height: 12, channels: 4, background: { r: 10, g: 200, b: 40, alpha: 0.5 } } }).png().toFile(path.join(dir, 'in', 'c.png'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('rws corrupt', () => {
  it('writes corrupted copies under the same relative paths, same size and kind, inputs untouched', async () => {
    const inputs = ['shirts/a.png', 'b.jpg', 'c.png'].map((f) => path.join(dir, 'in', f));
    const before = await Promise.all(inputs.map(sha));
    const r = await rws('corrupt', '--condition', 'fog', '--severity', '3', path.join(dir, 'in'), '--out', path.join(dir, 'out'));
    expect(r.code, r.stderr).toBe(0);
    expect(await Promise.all(inputs.map(sha))).toEqual(before);
    const a = await sharp(path.join(dir, 'out', 'shirts', 'a.png')).metadata();
    expect([a.width, a.height, a.channels, a.format]).toEqual([28, 28, 1, 'png']);
    const b = await sharp(path.join(dir, 'out', 'b.jpg')).metadata();
    expect([b.width, b.height, b.channels, b.format]).toEqual([40, 30, 3, 'jpeg']);
    const c = await sharp(path.join(dir, 'out', 'c.png')).metadata();
    expect([c.width, c.height, c.hasAlpha]).toEqual([16, 12, true]);
    // Fog brightens a dark background: the corrupted copy differs from the input.
    expect(await sha(path.join(dir, 'out', 'shirts', 'a.png'))).not.toBe(before[0]);
  });

  it('gives the same bytes for the same seed and different ones for another', async () => {
    const run = async (seed: string, out: string) => {
      const r = await rws('corrupt', '--condition', 'noise', '--severity', '4', '--seed', seed, path.join(dir, 'in', 'shirts', 'a.png'), '--out', path.join(dir, out));
      expect(r.code, r.stderr).toBe(0);
      return sha(path.join(dir, out, 'a.png'));
    };
    const first = await run('5', 's1');
    expect(await run('5', 's2')).toBe(first);
    expect(await run('6', 's3')).not.toBe(first);
  });

  it('refuses to write over an input', async () => {
    const before = await sha(path.join(dir, 'in', 'b.jpg'));
    const r = await rws('corrupt', '--condition', 'rain', '--severity', '2', path.join(dir, 'in'), '--out', path.join(dir, 'in'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to write over an input/);
    expect(await sha(path.join(dir, 'in', 'b.jpg'))).toBe(before);
  });

  it('rejects an unknown condition and a bad severity as usage errors', async () => {
    expect((await rws('corrupt', '--condition', 'hail', '--severity', '2', dir, '--out', path.join(dir, 'x'))).code).toBe(2);
    expect((await rws('corrupt', '--condition', 'fog', '--severity', '9', dir, '--out', path.join(dir, 'x'))).code).toBe(2);
  });

  it('--family and --strength choose a generator family and a fractional strength; --severity is the same as --strength', async () => {
    const file = path.join(dir, 'in', 'shirts', 'a.png');
    const run = async (out: string, ...args: string[]) => {
      const r = await rws('corrupt', '--condition', 'fog', ...args, file, '--out', path.join(dir, out));
      expect(r.code, r.stderr).toBe(0);
      return { hash: await sha(path.join(dir, out, 'a.png')), stdout: r.stdout };
    };
    const physical = await run('f1', '--family', 'physical', '--strength', '2.5');
    expect(physical.stdout).toMatch(/fog, family physical, strength 2.5, seed 0/);
    expect((await run('f2', '--family', 'physical', '--severity', '2.5')).hash).toBe(physical.hash);
    expect((await run('f3', '--family', 'imagenet-c', '--strength', '2.5')).hash).not.toBe(physical.hash);
    // Without --family: the condition's first (default) family.
    expect((await run('f4', '--strength', '3')).hash).toBe((await run('f5', '--family', 'rws-v1', '--strength', '3')).hash);
    const bad = await rws('corrupt', '--condition', 'fog', '--family', 'cloud', '--strength', '3', file, '--out', path.join(dir, 'f6'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/fog has rws-v1, physical, imagenet-c/);
  });

  it('--families lists every condition\'s families with their parameters and sources', async () => {
    const r = await rws('corrupt', '--families');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fog \(Fog\)$/m);
    expect(r.stdout).toMatch(/^  physical: atmospheric scattering/m);
    expect(r.stdout).toMatch(/strength 5: farTransmission 0\.1,/);
    expect(r.stdout).toMatch(/source: Koschmieder/);
    expect(r.stdout.match(/^  physical:/gm)).toHaveLength(6);
  });

  it('--families --json gives each family its lineage, for scripts', async () => {
    const r = await rws('corrupt', '--families', '--json');
    expect(r.code, r.stderr).toBe(0);
    const all = JSON.parse(r.stdout) as Record<string, { id: string; lineage: string; params: Record<string, Record<string, unknown>>; sources: string[] }[]>;
    expect(Object.keys(all)).toContain('night-rain');
    const fog = all.fog!;
    expect(fog.map((f) => f.id)).toEqual(['rws-v1', 'physical', 'imagenet-c', 'display-haze']);
    // The thin first fog is ImageNet-C's algorithm: one lineage, left out together.
    expect(fog.find((f) => f.id === 'rws-v1')!.lineage).toBe('imagenet-c');
    expect(fog.find((f) => f.id === 'physical')!.params['5']!.farTransmission).toBe(0.1);
    expect(fog.find((f) => f.id === 'physical')!.sources.join(' ')).toMatch(/Koschmieder/);
  });
});
