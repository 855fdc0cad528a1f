import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import type { BrowseEntry, BrowseResult, CommandArgs } from '../../api/contract.js';
import { hasImageExtension } from '../../engine/io/image-decode.js';
import type { Engine } from '../engine.js';

const MAX_ENTRIES = 5000;
/** Entries looked at when counting the images below a folder: enough for a big folder, quick to answer. */
const MAX_COUNTED = 20_000;

/**
 * Images in the sub-folders of `dir` (recursively, hidden ones and links left out, as a folder run
 * would find them by name), counted until MAX_COUNTED entries were seen.
 */
async function imagesBelow(engine: Engine, dirs: string[]): Promise<{ images: number; complete: boolean }> {
  let images = 0;
  let seen = 0;
  const queue = [...dirs];
  while (queue.length) {
    const dir = queue.shift()!;
    let names: import('node:fs').Dirent[];
    try {
      names = await readdir(await engine.readable(dir, 'dir'), { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of names) {
      if (++seen > MAX_COUNTED) return { images, complete: false };
      if (d.name.startsWith('.')) continue;
      if (d.isDirectory()) queue.push(path.join(dir, d.name));
      else if (d.isFile() && hasImageExtension(d.name)) images++;
    }
  }
  return { images, complete: true };
}

/** Command `browse`: one folder's sub-folders and files (folders first, by name), hidden files left out, and how many images its sub-folders hold. */
export async function browse(engine: Engine, args: CommandArgs<'browse'>): Promise<BrowseResult> {
  const dir = await engine.readable(args.dir, 'dir');
  let names: import('node:fs').Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RwsError(code === 'ENOTDIR' ? 'not-a-folder' : 'unreadable', `${args.dir}: ${code === 'ENOTDIR' ? 'not a folder' : `cannot read (${code})`}`, { file: args.dir, field: 'dir' });
  }
  const entries: BrowseEntry[] = [];
  for (const d of names) {
    if (d.name.startsWith('.')) continue;
    const full = path.join(dir, d.name);
    let kind: 'dir' | 'file' | undefined = d.isDirectory() ? 'dir' : d.isFile() ? 'file' : undefined;
    let size: number | undefined;
    if (d.isSymbolicLink() || kind === 'file') {
      // A link is shown only when it resolves inside the roots.
      try {
        const real = await engine.readable(full, 'dir');
        const s = await stat(real);
        kind = s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
        if (kind === 'file') size = s.size;
      } catch {
        continue;
      }
    }
    if (!kind) continue;
    const e: BrowseEntry = { name: d.name, path: full, kind };
    if (size !== undefined) e.size = size;
    if (kind === 'file') e.image = hasImageExtension(d.name);
    entries.push(e);
    if (entries.length >= MAX_ENTRIES) break;
  }
  entries.sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'dir' ? -1 : 1));
  const atRoot = engine.guard ? engine.guard.list().some((r) => r.path === dir) : path.dirname(dir) === dir;
  const subfolders = entries.filter((e) => e.kind === 'dir').map((e) => e.path);
  const out: BrowseResult = { dir, parent: atRoot ? null : path.dirname(dir), entries };
  if (subfolders.length) out.below = await imagesBelow(engine, subfolders);
  return out;
}
