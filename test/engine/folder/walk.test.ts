import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkInputs } from '../../../main/engine/folder/walk.js';
import { makeImageFolder, type ImageFolder } from './fixtures.js';

let tmp: string;
let folder: ImageFolder;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'rws-walk-'));
  folder = await makeImageFolder(path.join(tmp, 'photos'), 12);
});
afterAll(async () => {
  await chmod(path.join(tmp, 'locked-dir'), 0o755).catch(() => {});
  await rm(tmp, { recursive: true, force: true });
});

describe('walkInputs', () => {
  it('finds images recursively in a stable order, by extension or by content, and reports broken links', async () => {
    const w = await walkInputs([folder.dir]);
    const rels = w.files.map((f) => f.rel);
    const expected = [...folder.good, folder.bad.empty, folder.bad.truncated, folder.bad.notImage, folder.bad.pixelBomb, folder.bad.unreadable].sort();
    expect(rels).toEqual(expected);
    expect(rels).toEqual([...rels].sort());
    expect(rels).toContain('sub folder/ünïcödé 日本/image 002.webp');
    expect(rels).toContain('no-extension');
    expect(w.skipped).toEqual(['README.txt']);
    expect(w.problems.map((p) => [p.rel, p.code])).toEqual([[folder.bad.brokenLink, 'unreadable']]);
    expect(w.problems[0]!.message).toMatch(/broken symbolic link/);
    for (const f of w.files) expect(path.isAbsolute(f.path)).toBe(true);
  });

  it('names files by input when there are several, and takes named files as they are', async () => {
    const other = path.join(tmp, 'other');
    await mkdir(other, { recursive: true });
    await writeFile(path.join(other, 'notes.txt'), 'not an image');
    const w = await walkInputs([path.join(folder.dir, 'sub folder'), path.join(other, 'notes.txt')]);
    expect(w.files.map((f) => f.rel)).toContain('notes.txt');
    expect(w.files.filter((f) => f.rel !== 'notes.txt').every((f) => f.rel.startsWith('sub folder/'))).toBe(true);
  });

  it('keys each file for sharding by its path inside its own input, NFC, whatever the input is called', async () => {
    const alone = await walkInputs([folder.dir]);
    const several = await walkInputs([folder.dir, path.join(tmp, 'other')]);
    const keys = (w: typeof alone) => new Map(w.files.map((f) => [f.path, f.key]));
    expect(keys(alone).get(path.join(folder.dir, 'sub folder', 'ünïcödé 日本', 'image 002.webp'))).toBe('sub folder/ünïcödé 日本/image 002.webp'.normalize('NFC'));
    // With several inputs the results name is prefixed by the input; the key is not.
    const inBoth = several.files.filter((f) => keys(alone).has(f.path));
    expect(inBoth.length).toBe(alone.files.length);
    for (const f of inBoth) {
      expect(f.rel).toBe(`photos/${keys(alone).get(f.path)}`);
      expect(f.key).toBe(keys(alone).get(f.path));
    }
    expect(alone.problems.map((p) => p.key)).toEqual([folder.bad.brokenLink]);
    const named = await walkInputs([path.join(folder.dir, 'rotated.jpg')]);
    expect(named.files.map((f) => [f.rel, f.key])).toEqual([['rotated.jpg', 'rotated.jpg']]);
  });

  it('does not follow a link to a folder above it, and refuses a missing input', async () => {
    const loopy = path.join(tmp, 'loopy');
    await mkdir(path.join(loopy, 'a'), { recursive: true });
    await writeFile(path.join(loopy, 'a', 'x.jpg'), 'x');
    await symlink('..', path.join(loopy, 'a', 'up'));
    const w = await walkInputs([loopy]);
    expect(w.files.map((f) => f.rel)).toEqual(['a/x.jpg']);
    expect(w.skipped).toEqual(['a/up']);
    await expect(walkInputs([path.join(tmp, 'nope')])).rejects.toMatchObject({ code: 'usage-input' });
  });

  it.skipIf(process.getuid?.() === 0)('reports a folder it may not list (skipped as root, who may list everything)', async () => {
    const locked = path.join(tmp, 'locked-dir');
    await mkdir(path.join(locked, 'inner'), { recursive: true });
    await chmod(path.join(locked, 'inner'), 0o000);
    const w = await walkInputs([locked]);
    expect(w.problems.map((p) => p.rel)).toEqual(['inner']);
  });
});
