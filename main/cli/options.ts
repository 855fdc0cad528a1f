import { InvalidArgumentError } from 'commander';
import { checkStrength } from '../core/mix.js';

/** Commander parser for a severity range: `3` or `1-5`. */
export function parseSeverityRange(v: string): [number, number] {
  const m = /^([1-5])(?:-([1-5]))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a severity 1..5 or a range like 1-5');
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new InvalidArgumentError('the range must go up, like 1-5');
  return [a, b];
}

/** Commander parser for `--layers K|auto`. */
export function parseLayers(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number or "auto"');
  return n;
}

/** Commander parser for a number in an inclusive range. */
export function numberIn(lo: number, hi: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidArgumentError(`expected a number from ${lo} to ${hi}`);
    return n;
  };
}

/** Collect a repeatable option into an array. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/**
 * Split `FILE[=α]` (α defaults to 1, and is held to the range of every mix); a file name that
 * itself contains `=` still works when no number follows.
 */
export function parseSignatureArg(v: string): { file: string; alpha: number } {
  const m = /^(.*)=(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)$/i.exec(v);
  if (m && m[1]) return { file: m[1], alpha: checkStrength(m[1], Number(m[2]), '--signature') };
  return { file: v, alpha: 1 };
}

/** Human-readable byte size. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}
