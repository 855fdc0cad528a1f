import { InvalidArgumentError, type Command } from 'commander';
import { PRESETS } from '../engine/packs/presets.js';

/** Commander parser for a severity range: `3` or `1-5`. */
export function parseSeverityRange(v: string): [number, number] {
  const m = /^([1-5])(?:-([1-5]))?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError('expected a severity 1..5 or a range like 1-5');
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new InvalidArgumentError('the range must go up, like 1-5');
  return [a, b];
}

/** Commander parser for `--layers K|auto|NAMES`: a count, `auto`, or comma-separated layer names/patterns. */
export function parseLayers(v: string): number | 'auto' | string[] {
  const text = v.trim();
  if (text === 'auto') return 'auto';
  if (/^[0-9]+$/.test(text)) {
    const n = Number(text);
    if (n < 1) throw new InvalidArgumentError('expected a positive whole number, "auto", or layer names/patterns');
    return n;
  }
  const patterns = text.split(',').map((p) => p.trim()).filter(Boolean);
  if (!patterns.length) throw new InvalidArgumentError('expected a positive whole number, "auto", or layer names/patterns');
  return patterns;
}

/** Commander parser for a number in an inclusive range. */
export function numberIn(lo: number, hi: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < lo || n > hi) throw new InvalidArgumentError(`expected a number from ${lo} to ${hi}`);
    return n;
  };
}

/** Commander parser for comma-separated numbers (`0.485,0.456,0.406`). */
export function numberList(v: string): number[] {
  const values = v.split(',').map((x) => Number(x.trim()));
  if (!values.length || values.some((x) => !Number.isFinite(x) || v.trim() === '')) throw new InvalidArgumentError('expected numbers separated by commas, like 0.485,0.456,0.406');
  return values;
}

/** Commander parser for a pixel value range: `0-1` or `0-255` (any `LO-HI` that goes up). */
export function parseRange(v: string): [number, number] {
  const m = /^\s*(-?[0-9.]+)\s*(?:-|\.\.|,)\s*(-?[0-9.]+)\s*$/.exec(v);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) throw new InvalidArgumentError('expected a range like 0-1 or 0-255');
  return [lo, hi];
}

/** Collect a repeatable option into an array. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Split `FILE[=α]` (α defaults to 1); a file name that itself contains `=` still works when no number follows. */
export function parseSignatureArg(v: string): { file: string; alpha: number } {
  const m = /^(.*)=(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)$/i.exec(v);
  if (m && m[1]) return { file: m[1], alpha: Number(m[2]) };
  return { file: v, alpha: 1 };
}

/** Human-readable byte size. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** Commander parser for one of a few words. */
export function oneOf<T extends string>(values: readonly T[]): (v: string) => T {
  return (v: string) => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`expected ${values.join(', ')}`);
    return v as T;
  };
}

/** Commander parser for a whole number ≥ 1. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number ≥ 1');
  return n;
}

/** The input-description flags `rws pack init` and `rws run --model` share. */
export function inputFlags(cmd: Command): Command {
  return cmd
    .option('--preset <name>', `preprocessing preset: imagenet (torchvision: values 0-1, ImageNet mean/std, resize 256 then centre-crop 224) or none (values 0-1, stretched)`, oneOf(PRESETS))
    .option('--range <lo-hi>', 'pixel values before mean/std: 0-1 or 0-255', parseRange)
    .option('--mean <values>', 'mean to subtract, one value or one per channel (comma-separated, in --range units)', numberList)
    .option('--std <values>', 'std to divide by, one value or one per channel', numberList)
    .option('--resize <mode>', 'fill (stretch), contain (letterbox) or cover (cut out the centre)', oneOf(['fill', 'contain', 'cover'] as const))
    .option('--shorter-side <n>', 'with --resize cover: scale the shorter side to n pixels first, then cut out the centre (256 for a 224 crop)', positiveInt)
    .option('--color-space <space>', 'rgb, bgr or grey', oneOf(['rgb', 'bgr', 'grey'] as const));
}
