// Number and size formatting shared by the views.

/** `1.2 MB`, `830 kB`, `512 B`. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** Seconds as `42 s`, `3 min 05 s`, `1 h 02 min`; `—` when unknown. */
export function formatDuration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A probability as a percentage with one decimal: `97.3%`. */
export function pct(p: number | undefined, digits = 1): string {
  return p === undefined || !Number.isFinite(p) ? '—' : `${(p * 100).toFixed(digits)}%`;
}

/** Milliseconds with a precision that suits the size: `0.84 ms`, `12.3 ms`, `240 ms`. */
export function ms(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  if (v < 10) return `${v.toFixed(2)} ms`;
  if (v < 100) return `${v.toFixed(1)} ms`;
  return `${Math.round(v)} ms`;
}

/** Parent folder of a path, keeping its separator style. */
export function parentDir(p: string): string {
  const sep = p.includes('\\') && !p.includes('/') ? '\\' : '/';
  const trimmed = p.replace(/[\\/]+$/, '');
  const i = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return i <= 0 ? (i === 0 ? sep : trimmed) : trimmed.slice(0, i);
}

/** Join with the separator the base path uses. */
export function joinPath(base: string, ...parts: string[]): string {
  const sep = base.includes('\\') && !base.includes('/') ? '\\' : '/';
  return [base.replace(/[\\/]+$/, ''), ...parts].join(sep);
}

/** A rate of images per second with its unit: `1,250 images/s`, `3.4 images/s`, `—` when unknown. */
export function formatRate(perSecond: number | undefined): string {
  if (perSecond === undefined || !Number.isFinite(perSecond) || perSecond <= 0) return '— images/s';
  return `${perSecond >= 100 ? Math.round(perSecond).toLocaleString('en-US') : perSecond.toFixed(1)} images/s`;
}
