// Runs `rws` in-process and captures what it prints, so CLI tests need no build step; and builds
// dist/ for the tests that run `bin/rws.js` in a child process (to kill it).
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../../main/cli/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `rws ...args`; resolves with the exit code and the captured output. */
export async function rws(...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const orig = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(' ') + '\n');
  console.info = console.log;
  console.warn = (...a: unknown[]) => void err.push(a.join(' ') + '\n');
  console.error = console.warn;
  process.stdout.write = ((s: string | Uint8Array) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => (err.push(String(s)), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    code = await main(['node', 'rws', ...args]);
  } catch (e) {
    err.push(String((e as Error).stack ?? e));
    code = 1;
  } finally {
    Object.assign(console, orig);
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = before;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/**
 * dist/ and its bundle out/cli are what `bin/rws.js` runs; build both when a source of this command is
 * newer (CI's install builds them).
 */
export async function ensureBuilt(): Promise<void> {
  const sources = (await readdir(path.join(root, 'main'), { recursive: true }))
    // What tsconfig.json compiles of main/ (the CLI's tree).
    .filter((f) => f.endsWith('.ts') && ['core', 'engine', 'cli', 'api', 'service', 'serve'].includes(f.split(path.sep)[0]!))
    .map((f) => path.join('main', f));
  const stale = sources.some((s) => {
    const out = path.join(root, 'dist', s.replace(/\.ts$/, '.js'));
    return !existsSync(out) || statSync(out).mtimeMs < statSync(path.join(root, s)).mtimeMs;
  });
  if (!stale) return;
  await promisify(execFile)(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], { cwd: root }).catch(
    // Type errors elsewhere in the tree still emit JavaScript; only a missing output is fatal.
    () => {},
  );
  await promisify(execFile)(process.execPath, [path.join(root, 'scripts', 'bundle-cli.mjs')], { cwd: root });
}
