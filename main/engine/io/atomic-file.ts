import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * Write a file so that readers see the old content or the whole new one, never a half: `write`
 * fills a temp file beside it, which is fsynced and renamed over the target.
 */
export async function writeFileAtomicWith(file: string, write: (fh: FileHandle) => Promise<void>, mode?: number): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const fh = await open(tmp, 'w', mode);
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
    throw e;
  }
}

/** Write `data` to `file` atomically (temp file, fsync, rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string, mode?: number): Promise<void> {
  await writeFileAtomicWith(file, (fh) => fh.writeFile(data), mode);
}
