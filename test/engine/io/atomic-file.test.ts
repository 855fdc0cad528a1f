import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStaleTemps, writeFileAtomic } from '../../../main/engine/io/atomic-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rws-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('lets many writes of one file run at once: each renames its own temp file, the last one wins whole', async () => {
    const file = path.join(dir, 'same.json');
    const texts = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(10_000 + i) }));
    await Promise.all(texts.map((t) => writeFileAtomic(file, t)));
    expect(texts).toContain(readFileSync(file, 'utf8'));
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('names the file when it cannot write', async () => {
    await expect(writeFileAtomic(path.join(dir, 'no such folder', 'x.json'), '{}')).rejects.toMatchObject({ code: 'write-failed', message: expect.stringMatching(/x\.json: cannot write \(ENOENT\)$/) });
  });
});

describe('removeStaleTemps', () => {
  it('removes the temp files of writes by processes that are gone, and no other', async () => {
    const file = path.join(dir, 'results.json');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const stale = [`.results.json.${gone}.abc123.tmp`, `.results.json.${gone}.lzq9k1.tmp`];
    const kept = [`.results.json.${process.pid}.own.tmp`, `.results.json.1.init.tmp`, `.other.json.${gone}.abc.tmp`, 'results.json'];
    for (const f of [...stale, ...kept]) writeFileSync(path.join(dir, f), '');
    expect(await removeStaleTemps(file)).toBe(2);
    for (const f of stale) expect(existsSync(path.join(dir, f))).toBe(false);
    for (const f of kept) expect(existsSync(path.join(dir, f))).toBe(true);
  });
});
