import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inShard, listingOf, parseShard, shardKey, shardOf } from '../../../main/engine/folder/shard.js';

describe('shardOf', () => {
  it('is the first 64 bits of the key\'s SHA-256 modulo N, plus one (the definition the README gives)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 1000 }), (key, n) => {
        const hex = createHash('sha256').update(Buffer.from(key, 'utf8')).digest('hex').slice(0, 16);
        expect(shardOf(key, n)).toBe(Number(BigInt(`0x${hex}`) % BigInt(n)) + 1);
      }),
    );
  });

  it('gives every key exactly one shard of N, for N = 1..7', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 7 }), (key, n) => {
        const owners = Array.from({ length: n }, (_, i) => i + 1).filter((index) => inShard(key, { index, count: n }));
        expect(owners).toHaveLength(1);
      }),
    );
  });

  it('keeps shards of similar size', () => {
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 14_000; i++) counts[shardOf(`card ${i % 40}/IMG_${String(i).padStart(5, '0')}.JPG`, 7) - 1]++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });

  it('sends a name to the same shard however the OS spells it: NFC or NFD, / or \\', () => {
    const nfc = 'sub folder/ünïcödé 日本/café.jpg'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    expect(shardKey(nfd)).toBe(nfc);
    expect(shardKey('sub folder\\ünïcödé 日本\\café.jpg')).toBe(nfc);
    for (const n of [2, 3, 7, 64]) expect(shardOf(shardKey(nfd), n)).toBe(shardOf(shardKey(nfc), n));
  });
});

describe('listingOf', () => {
  it('is the same whatever the order and normalisation of the names, and differs when a name does', () => {
    const names = ['b.jpg', 'a/ü.png', 'c.jpg'];
    const a = listingOf(names);
    expect(listingOf([...names].reverse())).toEqual(a);
    expect(listingOf(names.map((n) => n.normalize('NFD')))).toEqual(a);
    expect(a.entries).toBe(3);
    expect(listingOf([...names, 'd.jpg']).sha256).not.toBe(a.sha256);
    expect(listingOf(['b.jpg', 'a/u.png', 'c.jpg']).sha256).not.toBe(a.sha256);
  });
});

describe('parseShard', () => {
  it('reads I/N, from 1', () => {
    expect(parseShard('2/3', {})).toEqual({ index: 2, count: 3 });
    expect(parseShard(' 1 / 1 ', {})).toEqual({ index: 1, count: 1 });
  });

  it('refuses shards outside 1..N and other text, naming --shard', () => {
    for (const bad of ['0/3', '4/3', '1/0', '3', 'a/b', '-1/2', '1/2/3', 'auto/0', '']) {
      expect(() => parseShard(bad, {}), bad).toThrow(/^--shard /);
      try {
        parseShard(bad, {});
      } catch (e) {
        expect(e).toMatchObject({ code: 'usage-shard', field: '--shard' });
      }
    }
  });

  it('auto: a Slurm job array numbered from 0 or from 1, or by steps', () => {
    const slurm = (id: number, min: number, count: number, step?: number) => ({
      SLURM_ARRAY_TASK_ID: String(id),
      SLURM_ARRAY_TASK_MIN: String(min),
      SLURM_ARRAY_TASK_COUNT: String(count),
      ...(step ? { SLURM_ARRAY_TASK_STEP: String(step) } : {}),
    });
    expect(parseShard('auto', slurm(0, 0, 4))).toMatchObject({ index: 1, count: 4 });
    expect(parseShard('auto', slurm(3, 0, 4))).toMatchObject({ index: 4, count: 4 });
    expect(parseShard('auto', slurm(1, 1, 4))).toMatchObject({ index: 1, count: 4 });
    expect(parseShard('auto', slurm(4, 1, 4))).toMatchObject({ index: 4, count: 4 });
    expect(parseShard('auto', slurm(8, 0, 4, 4))).toMatchObject({ index: 3, count: 4 });
    expect(parseShard('auto', slurm(2, 0, 4)).from).toContain('SLURM_ARRAY_TASK_ID=2');
    expect(parseShard('auto/4', slurm(2, 0, 4))).toMatchObject({ index: 3, count: 4 });
    // The count given must be the array's; an uneven array is refused rather than guessed at.
    expect(() => parseShard('auto/8', slurm(2, 0, 4))).toThrow(/has 4 tasks, not 8/);
    expect(() => parseShard('auto', slurm(5, 0, 4, 2))).toThrow(/not evenly numbered/);
    expect(() => parseShard('auto', slurm(9, 0, 4))).toThrow(/shard 10 is not one of 1..4/);
    expect(() => parseShard('auto', { SLURM_ARRAY_TASK_ID: '3' })).toThrow(/cannot read the Slurm array/);
  });

  it('auto/N: a Kubernetes Indexed Job (from 0) or GNU parallel (from 1); without N they say what to give', () => {
    expect(parseShard('auto/8', { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 8, from: 'JOB_COMPLETION_INDEX=0' });
    expect(parseShard('auto/8', { JOB_COMPLETION_INDEX: '7' })).toMatchObject({ index: 8, count: 8 });
    expect(() => parseShard('auto/8', { JOB_COMPLETION_INDEX: '8' })).toThrow(/shard 9 is not one of 1..8/);
    expect(() => parseShard('auto', { JOB_COMPLETION_INDEX: '2' })).toThrow(/--shard auto\/N with N = the Job's completions/);
    expect(parseShard('auto/3', { PARALLEL_SEQ: '3' })).toEqual({ index: 3, count: 3, from: 'PARALLEL_SEQ=3' });
    expect(() => parseShard('auto', { PARALLEL_SEQ: '1' })).toThrow(/--shard auto\/N/);
    expect(() => parseShard('auto/3', { PARALLEL_SEQ: 'x' })).toThrow(/not a whole number/);
    // Slurm first: a job array that runs GNU parallel inside each task is sharded by the array.
    expect(parseShard('auto', { SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_MIN: '0', SLURM_ARRAY_TASK_COUNT: '2', PARALLEL_SEQ: '5' })).toMatchObject({ index: 2, count: 2 });
    expect(() => parseShard('auto', {})).toThrow(/no scheduler index in the environment/);
  });
});
