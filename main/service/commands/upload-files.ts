import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RwsError } from '../../core/errors.js';
import type { CommandArgs, UploadDone } from '../../api/contract.js';
import type { Engine } from '../engine.js';

/** A relative name from the browser, made safe: no absolute path, no `..`, no empty or odd parts. */
function safeRelative(name: string): string {
  const parts = name.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.some((p) => p === '..' || p.includes('\0') || p.length > 255)) {
    throw new RwsError('bad-argument', `uploadFiles: "${name}" is not a file name inside the run folder`, { field: 'files.name' });
  }
  return parts.join(path.sep);
}

/** Where uploads go: `<first root>/<uploads folder>/`, or the user's temp folder when the engine has no roots. */
function uploadsBase(engine: Engine): string {
  const name = engine.options.uploadsFolder ?? 'rws-uploads';
  return path.join(engine.guard ? engine.guard.first : os.tmpdir(), name);
}

/** Command `uploadFiles`: write dropped files into a run folder (never over an existing file). */
export async function uploadFiles(engine: Engine, args: CommandArgs<'uploadFiles'>): Promise<UploadDone> {
  const base = uploadsBase(engine);
  let folder: string;
  if (args.folder) {
    folder = await engine.writable(args.folder, 'folder');
    const rel = path.relative(base, folder);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep)) {
      throw new RwsError('bad-argument', `uploadFiles: ${args.folder} is not a run folder made by uploadFiles`, { field: 'folder' });
    }
  } else {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    folder = await engine.writable(path.join(base, `${stamp}-${randomBytes(3).toString('hex')}`), 'folder');
  }
  await mkdir(folder, { recursive: true });
  let written = 0;
  for (const f of args.files) {
    // Checked before anything is made: a sub-folder that links out of the roots gets nothing created through it.
    const target = await engine.writable(path.join(folder, safeRelative(f.name)), 'files.name');
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await writeFile(target, f.data, { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new RwsError('exists', `uploadFiles: ${f.name} was already uploaded to this folder`, { file: target, field: 'files.name' });
      throw e;
    }
    written++;
  }
  return { folder, written };
}
