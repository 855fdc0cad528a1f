// Reading files that someone else may have placed: a FIFO, a device or a link to /dev/zero must
// never hang a call or be read without end. Every read of a user's or a pack's file goes through
// here: opened without blocking (a FIFO with no writer opens at once), checked after opening (so a
// swap between a check and the open cannot slip a special file in), and read up to the size the
// file had when it was opened, never to an end that may not come.
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';

/** Opening for reading never blocks: O_NONBLOCK where the platform has it (not on Windows, which has no FIFOs to fear). */
export const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** What a path that is not a regular file is, in a user's words. */
export function specialKind(st: Pick<Stats, 'isDirectory' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'>): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** What is being read, for messages and error codes. */
export interface ReadWhat {
  /** The file's part in the message: "the pack manifest", "the model", "the signature". */
  what: string;
  /** Error code for a file that cannot be opened or read (ENOENT, EACCES...). */
  code: string;
  /** Largest size accepted; a bigger file is refused before anything is read (default: no bound). */
  maxBytes?: number;
  /** The field of a manifest that named the file, for the error. */
  field?: string;
  /**
   * SHA-256 the bytes must have (checked when the file was chosen): what is read is hashed and
   * refused if it differs, so the bytes used are the bytes checked, however the file changed since.
   */
  sha256?: string;
}

/** SHA-256 hex of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Refuse bytes whose SHA-256 is not the one `w` pins (nothing to check when it pins none). */
export function assertPinned(file: string, bytes: Uint8Array, w: ReadWhat): void {
  if (w.sha256 === undefined) return;
  const actual = sha256Hex(bytes);
  if (actual !== w.sha256) {
    throw new RwsError('file-changed', `${file}: ${w.what} changed after it was checked (SHA-256 ${actual.slice(0, 12)}…, checked ${w.sha256.slice(0, 12)}…); load the pack again`, where(file, w));
  }
}

/** Why an open or read failed: the errno code (ENOENT, EACCES...), as every message of rws gives it. */
export function errnoText(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message ?? String(e);
}

function where(file: string, w: ReadWhat): { file: string; field?: string } {
  return w.field === undefined ? { file } : { file, field: w.field };
}

/** An error of this module: `errno` for a failed open or read, `kind` for a special file (what it is). */
export type FileError = RwsError & { errno?: string; kind?: string };

function readError(file: string, w: ReadWhat, e: unknown): RwsError {
  if (e instanceof RwsError) return e;
  const err: FileError = new RwsError(w.code, `${file}: cannot read ${w.what} (${errnoText(e)})`, where(file, w));
  err.errno = (e as NodeJS.ErrnoException).code;
  return err;
}

/** Refuse a file that is not regular, or larger than allowed; the size to read otherwise. */
export function checkOpened(file: string, st: Stats, w: ReadWhat): number {
  if (!st.isFile()) {
    const err: FileError = new RwsError('not-regular-file', `${file}: refused as ${w.what}: it is ${specialKind(st)}, not a regular file`, where(file, w));
    err.kind = specialKind(st);
    throw err;
  }
  if (w.maxBytes !== undefined && st.size > w.maxBytes) {
    throw new RwsError('file-too-large', `${file}: refused as ${w.what}: ${st.size} bytes, over the limit of ${w.maxBytes}`, where(file, w));
  }
  return st.size;
}

/** An open regular file and its size at opening; close it when done. */
export interface OpenedFile {
  fh: FileHandle;
  size: number;
}

/** Open a regular file for reading without blocking; refuses special files and oversized ones (checked on the open file). */
export async function openRegular(file: string, w: ReadWhat): Promise<OpenedFile> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, READ_FLAGS);
    const size = checkOpened(file, await fh.stat(), w);
    return { fh, size };
  } catch (e) {
    await fh?.close().catch(() => {});
    throw readError(file, w, e);
  }
}

/** Read `length` bytes at `offset` of an open file (fewer only if it shrank meanwhile). */
export async function readRange(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(out, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? out : out.subarray(0, got);
}

/** A regular file's bytes: at most the size it had when opened (a file still growing is not followed). */
export async function readRegularFile(file: string, w: ReadWhat): Promise<Buffer> {
  const { fh, size } = await openRegular(file, w);
  let bytes: Buffer;
  try {
    bytes = await readRange(fh, 0, size);
  } catch (e) {
    throw readError(file, w, e);
  } finally {
    await fh.close().catch(() => {});
  }
  assertPinned(file, bytes, w);
  return bytes;
}

/** `readRegularFile` as text (UTF-8). */
export async function readRegularText(file: string, w: ReadWhat): Promise<string> {
  return (await readRegularFile(file, w)).toString('utf8');
}

/** `length` bytes at `offset` of a regular file, read synchronously (for readers that are synchronous themselves). */
export function readRegularRangeSync(file: string, w: ReadWhat, range: (size: number) => { offset: number; length: number }): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(file, READ_FLAGS);
    const size = checkOpened(file, fstatSync(fd), w);
    const { offset, length } = range(size);
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, out, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? out : out.subarray(0, got);
  } catch (e) {
    throw readError(file, w, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** True when `real` (a real path) is `root` or lies below it. */
export function isWithin(root: string, real: string): boolean {
  const rel = path.relative(root, real);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

function outside(file: string, w: ReadWhat, scope: string): RwsError {
  // The target is not named: where a link leads outside is none of the reader's business.
  return new RwsError('link-outside', `${file}: refused as ${w.what}: it is a symbolic link that leads outside ${scope}`, where(file, w));
}

/**
 * The real path of `file`, refused when a symbolic link takes it outside the folder `root` (a real
 * path); `scope` names that folder in the message. A path that does not resolve is returned as it
 * is, for the read to report.
 */
export async function realPathWithin(root: string, file: string, w: ReadWhat, scope: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return file;
  }
  if (!isWithin(root, real)) throw outside(file, w, scope);
  return real;
}

/** `realPathWithin`, synchronously. */
export function realPathWithinSync(root: string, file: string, w: ReadWhat, scope: string): string {
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    return file;
  }
  if (!isWithin(root, real)) throw outside(file, w, scope);
  return real;
}

/** The real path of a folder, or the folder as given when it does not resolve. */
export async function realFolder(dir: string): Promise<string> {
  return realpath(path.resolve(dir)).catch(() => path.resolve(dir));
}
