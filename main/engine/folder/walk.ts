import fs from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../../core/errors.js';
import { hasImageExtension, readHead, sniffImage } from '../io/image-decode.js';
import { specialKind, type FileError } from '../io/regular-file.js';
import { shardKey } from './shard.js';

/**
 * One file to classify: where it is, its name in results (relative, `/`-separated, prefixed by its
 * input's name when there are several) and its shard key (relative to its own input, NFC).
 */
export interface WalkFile {
  path: string;
  rel: string;
  key: string;
}

/** An entry that could not be looked at (broken link, unreadable folder); the run goes on. */
export interface WalkProblem {
  rel: string;
  key: string;
  path: string;
  code: 'unreadable';
  message: string;
}

/** A special file (FIFO, device, socket, or a link to one) left out unread, and why. */
export interface WalkSkip {
  rel: string;
  key: string;
  path: string;
  reason: string;
}

export interface WalkResult {
  /** Files to decode, sorted by `rel` (code-unit order, the same on every machine). */
  files: WalkFile[];
  problems: WalkProblem[];
  /** Files inside folders that are neither named nor shaped like images (sidecars, notes), and links that loop. */
  skipped: string[];
  /** Special files, named or inside folders, left out without being opened (reading one could block or never end). */
  special: WalkSkip[];
}

const ERRNO_TEXT: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOENT: 'broken symbolic link (its target does not exist)',
  ELOOP: 'symbolic link loop',
};

const toPosix = (p: string) => p.split(path.sep).join('/');
const byRel = (a: { rel: string }, b: { rel: string }) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0);

/** Name given to each input in results: nothing for a single folder, its name when several. */
function prefixes(inputs: string[]): string[] {
  const names = inputs.map((i) => path.basename(path.resolve(i)));
  return inputs.map((input, i) => {
    const clash = names.filter((n) => n === names[i]).length > 1;
    return clash ? toPosix(path.normalize(input)).replace(/^\.\/+|\/+$/g, '') : names[i]!;
  });
}

/** Why a special file is left out. */
function notRegular(st: fs.Stats | fs.Dirent, link: boolean): string {
  const kind = specialKind(st);
  return `not read: it is ${link ? `a link to ${kind}` : kind}, not a regular file`;
}

const isSpecial = (st: fs.Stats | fs.Dirent) => st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice() || st.isSocket();

/**
 * Every image under the inputs (files and folders, recursively, following symbolic links; hidden
 * files skipped). Inside folders, files with an image extension are taken as they are and other
 * files only when their first bytes are an image's; a named file is always taken. Special files
 * (FIFOs, devices, sockets, links to them) are listed in `special` and never opened. Broken links
 * and unreadable folders are reported in `problems`, not thrown. A missing input is an error.
 */
export async function walkInputs(inputs: string[], opts: { signal?: AbortSignal } = {}): Promise<WalkResult> {
  const files: WalkFile[] = [];
  const problems: WalkProblem[] = [];
  const skipped: string[] = [];
  const special: WalkSkip[] = [];
  const names = prefixes(inputs);
  const several = inputs.length > 1;
  for (const [i, input] of inputs.entries()) {
    let info: fs.Stats;
    try {
      info = await stat(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      throw new RwsError('usage-input', `${input}: cannot read this input (${ERRNO_TEXT[code] ?? code})`, { file: input });
    }
    if (!info.isDirectory()) {
      const key = shardKey(path.basename(input));
      if (info.isFile()) files.push({ path: path.resolve(input), rel: names[i]!, key });
      else special.push({ path: path.resolve(input), rel: names[i]!, key, reason: notRegular(info, false) });
      continue;
    }
    const root = path.resolve(input);
    const keyOf = (abs: string) => shardKey(toPosix(path.relative(root, abs)));
    const relOf = (abs: string) => {
      const r = toPosix(path.relative(root, abs));
      return several ? `${names[i]}/${r}` : r;
    };
    // tinyglobby skips what it cannot read without a word: these wrappers hear of it.
    const report = (abs: string, e: NodeJS.ErrnoException | null, what: string) => {
      if (!e) return;
      const why = ERRNO_TEXT[e.code ?? ''] ?? e.code ?? e.message;
      problems.push({ path: abs, rel: relOf(abs), key: keyOf(abs), code: 'unreadable', message: `${relOf(abs) || input}: ${what}: ${why}` });
    };
    // Links the glob follows that lead to special files: it lists them as files, we must not open them.
    const linkedSpecial = new Map<string, string>();
    const watched = {
      readdir: ((p: string, o: unknown, cb: (e: NodeJS.ErrnoException | null, entries?: unknown) => void) =>
        fs.readdir(p, o as { withFileTypes: true }, (e, entries) => {
          const dir = path.resolve(root, p);
          report(dir, e, 'cannot list this folder');
          // The glob drops FIFOs and devices without a word: they are listed here, with the reason.
          for (const d of (entries ?? []) as fs.Dirent[]) {
            if (isSpecial(d) && !d.name.startsWith('.')) {
              const abs = path.join(dir, d.name);
              special.push({ path: abs, rel: relOf(abs), key: keyOf(abs), reason: notRegular(d, false) });
            }
          }
          cb(e, entries);
        })) as unknown as typeof fs.readdir,
      realpath: ((p: string, cb: (e: NodeJS.ErrnoException | null, r?: string) => void) =>
        fs.realpath(p, (e, r) => {
          const abs = path.resolve(root, p);
          // A link to a folder above itself would list the same files again under longer names.
          if (!e && r && (abs + path.sep).startsWith(r + path.sep)) {
            const loop = Object.assign(new Error('loop'), { code: 'ELOOP' }) as NodeJS.ErrnoException;
            skipped.push(relOf(abs));
            return cb(loop);
          }
          report(abs, e, 'cannot follow link');
          if (e || !r) return cb(e, r);
          fs.stat(r, (se, st) => {
            if (!se && isSpecial(st)) linkedSpecial.set(abs, notRegular(st, true));
            cb(e, r);
          });
        })) as unknown as typeof fs.realpath,
    };
    // Loaded with the first folder: a run of single files does without it.
    const { glob } = await import('tinyglobby');
    const found = await glob('**/*', {
      cwd: root,
      onlyFiles: true,
      followSymbolicLinks: true,
      dot: false,
      absolute: false,
      fs: watched,
      signal: opts.signal,
    });
    for (const rel of found) {
      const abs = path.resolve(root, rel);
      const why = linkedSpecial.get(abs);
      if (why) {
        special.push({ path: abs, rel: relOf(abs), key: keyOf(abs), reason: why });
        continue;
      }
      if (hasImageExtension(rel)) {
        files.push({ path: abs, rel: relOf(abs), key: keyOf(abs) });
        continue;
      }
      let head: Uint8Array | undefined;
      try {
        head = await readHead(abs);
      } catch (e) {
        const err = e as FileError;
        // Replaced by a special file since it was listed: left out like one.
        if (err.kind) special.push({ path: abs, rel: relOf(abs), key: keyOf(abs), reason: `not read: it is ${err.kind}, not a regular file` });
        else report(abs, { code: err.errno ?? err.code, message: err.message } as NodeJS.ErrnoException, 'cannot read');
        continue;
      }
      if (sniffImage(head)) files.push({ path: abs, rel: relOf(abs), key: keyOf(abs) });
      else skipped.push(relOf(abs));
    }
  }
  const seen = new Set<string>();
  const unique = files.filter((f) => (seen.has(f.rel) ? false : (seen.add(f.rel), true)));
  const specialSeen = new Set<string>();
  const specials = special.filter((f) => (specialSeen.has(f.rel) ? false : (specialSeen.add(f.rel), true)));
  return { files: unique.sort(byRel), problems: problems.sort(byRel), skipped: skipped.sort(), special: specials.sort(byRel) };
}
