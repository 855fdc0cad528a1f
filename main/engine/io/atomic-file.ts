import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';

/** The temp file beside `file` that a write by process `pid` fills: `.NAME.PID.RANDOM.tmp`. */
function tempName(file: string, pid: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Write a file so that readers see the old content or the whole new one, never a half: `write`
 * fills a temp file beside it (a name of its own, so concurrent writes of one file never share
 * one), which is fsynced and renamed over the target. Failures name the file.
 */
export async function writeFileAtomicWith(file: string, write: (fh: FileHandle) => Promise<void>, mode?: number): Promise<void> {
  const tmp = tempName(file, process.pid);
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx', mode);
  } catch (e) {
    throw new RwsError('write-failed', `${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  try {
    await write(fh);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new RwsError('write-failed', `${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
}

/** Write `data` to `file` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string, mode?: number): Promise<void> {
  await writeFileAtomicWith(file, (fh) => fh.writeFile(data), mode);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove the temp files that writes of `file` by processes no longer running left behind (a kill
 * during the final write); a live process's, this one's included, are left alone. Returns how many went.
 */
export async function removeStaleTemps(file: string): Promise<number> {
  const base = path.basename(file);
  const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
  let removed = 0;
  for (const n of names) {
    if (!n.startsWith(`.${base}.`) || !n.endsWith('.tmp')) continue;
    const pid = Number(n.slice(base.length + 2).split('.')[0]);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    if (await unlink(path.join(path.dirname(file), n)).then(() => true, () => false)) removed++;
  }
  return removed;
}
