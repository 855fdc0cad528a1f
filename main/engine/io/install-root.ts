import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The installation's root folder (the one holding package.json), whether run from source or from dist/. */
export function installRoot(): string {
  if (cached) return cached;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${path.dirname(fileURLToPath(import.meta.url))}`);
    dir = up;
  }
  return (cached = dir);
}
