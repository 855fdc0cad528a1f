import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RwsError } from '../../../main/core/errors.js';
import { readRegularFile, readRegularRangeSync, realPathWithin, sha256Hex } from '../../../main/engine/io/regular-file.js';

let dir: string;
const W = { what: 'the test file', code: 'test-read' };
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rws-regular-'));
  writeFileSync(path.join(dir, 'a.bin'), 'hello world');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(p: Promise<unknown>): Promise<RwsError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(RwsError);
  return e as RwsError;
}

describe.skipIf(process.platform === 'win32')('reading files that may be special', () => {
  it('refuses a FIFO and a link to /dev/zero at once, naming the file and what it is', async () => {
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    symlinkSync('/dev/zero', path.join(dir, 'zero'));
    const started = Date.now();
    const a = await refusal(readRegularFile(fifo, W));
    expect(a.code).toBe('not-regular-file');
    expect(a.message).toBe(`${fifo}: refused as the test file: it is a FIFO (named pipe), not a regular file`);
    const b = await refusal(readRegularFile(path.join(dir, 'zero'), W));
    expect(b.message).toMatch(/zero: refused as the test file: it is a character device, not a regular file/);
    expect(() => readRegularRangeSync(fifo, W, () => ({ offset: 0, length: 1 }))).toThrow(/a FIFO \(named pipe\), not a regular file/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reads a regular file up to its size, refuses one over the limit or not the bytes pinned', async () => {
    const file = path.join(dir, 'a.bin');
    expect((await readRegularFile(file, W)).toString()).toBe('hello world');
    expect((await refusal(readRegularFile(file, { ...W, maxBytes: 5 }))).message).toBe(`${file}: refused as the test file: 11 bytes, over the limit of 5`);
    expect((await readRegularFile(file, { ...W, sha256: sha256Hex(Buffer.from('hello world')) })).length).toBe(11);
    const changed = await refusal(readRegularFile(file, { ...W, sha256: sha256Hex(Buffer.from('hello')) }));
    expect(changed.code).toBe('file-changed');
    expect(changed.message).toMatch(/a\.bin: the test file changed after it was checked/);
    expect((await refusal(readRegularFile(path.join(dir, 'none'), W))).message).toBe(`${path.join(dir, 'none')}: cannot read the test file (ENOENT)`);
    expect(readRegularRangeSync(file, W, () => ({ offset: 6, length: 5 })).toString()).toBe('world');
  });

  it('refuses a link that leads out of a folder, without naming where it leads', async () => {
    const inside = path.join(dir, 'inside');
    mkdirSync(inside);
    symlinkSync(path.join(dir, 'a.bin'), path.join(inside, 'out.bin'));
    writeFileSync(path.join(inside, 'in.bin'), 'x');
    symlinkSync('in.bin', path.join(inside, 'alias.bin'));
    const e = await refusal(realPathWithin(inside, path.join(inside, 'out.bin'), W, 'the pack folder'));
    expect(e.code).toBe('link-outside');
    expect(e.message).toBe(`${path.join(inside, 'out.bin')}: refused as the test file: it is a symbolic link that leads outside the pack folder`);
    expect(await realPathWithin(inside, path.join(inside, 'alias.bin'), W, 'the pack folder')).toBe(path.join(inside, 'in.bin'));
  });
});
