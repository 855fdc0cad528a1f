import { lstat, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { RwsError } from '../core/errors.js';
import type { RootInfo } from '../api/contract.js';
import { isWithin } from '../engine/io/regular-file.js';

const inside = isWithin;

async function existsNoFollow(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The folders a served engine may read inputs from and write outputs to (`rws serve --root`).
 * Every path is checked after resolving symlinks, so a link inside a root that points outside is refused.
 */
export class RootGuard {
  private constructor(private readonly roots: string[]) {}

  /** Resolve each root to its real path; each must be an existing folder. */
  static async create(roots: string[]): Promise<RootGuard> {
    if (roots.length === 0) throw new RwsError('usage', '--root: at least one folder is needed', { field: '--root' });
    const real: string[] = [];
    for (const r of roots) {
      let p: string;
      try {
        p = await realpath(path.resolve(r));
      } catch {
        throw new RwsError('root-missing', `--root ${r}: no such folder`, { file: r, field: '--root' });
      }
      if (!(await stat(p)).isDirectory()) throw new RwsError('root-missing', `--root ${r}: not a folder`, { file: r, field: '--root' });
      if (!real.includes(p)) real.push(p);
    }
    return new RootGuard(real);
  }

  list(): RootInfo[] {
    return this.roots.map((p) => ({ path: p, name: path.basename(p) || p }));
  }

  /** The first root: uploads go under it, and relative paths are taken from it. */
  get first(): string {
    return this.roots[0]!;
  }

  /** Whether a real (symlink-free) path lies inside a root. */
  contains(realPath: string): boolean {
    return this.roots.some((r) => inside(r, realPath));
  }

  private refuse(p: string, field: string): never {
    throw new RwsError('outside-roots', `${p}: outside the folders this server may use (${this.roots.join(', ')})`, { file: p, field });
  }

  /** Real path of an existing file or folder inside a root, or an error naming the field. */
  async readable(p: string, field: string): Promise<string> {
    const abs = path.resolve(this.first, p);
    let real: string;
    try {
      real = await realpath(abs);
    } catch {
      // Say "outside" before "missing" so the answer does not reveal what exists outside the roots.
      if (!this.roots.some((r) => inside(r, abs))) this.refuse(p, field);
      throw new RwsError('not-found', `${p}: no such file or folder`, { file: p, field });
    }
    if (!this.contains(real)) this.refuse(p, field);
    return real;
  }

  /** Path to write (it may not exist yet): its nearest existing ancestor, resolved, must lie inside a root. */
  async writable(p: string, field: string): Promise<string> {
    const abs = path.resolve(this.first, p);
    let existing = abs;
    const rest: string[] = [];
    while (!(await existsNoFollow(existing))) {
      const parent = path.dirname(existing);
      if (parent === existing) this.refuse(p, field);
      rest.unshift(path.basename(existing));
      existing = parent;
    }
    let real: string;
    try {
      real = await realpath(existing);
    } catch {
      // A dangling symlink: where it points is not ours to create.
      this.refuse(p, field);
    }
    const out = path.join(real, ...rest);
    if (!this.contains(out)) this.refuse(p, field);
    return out;
  }
}
