// Runs `rws` in-process and captures what it prints, so CLI tests need no build step.
import { main } from '../../main/cli/index.js';

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
