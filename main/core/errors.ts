/** An error the user can act on: a stable code, and a message naming the file and the field. */
export class RwsError extends Error {
  readonly code: string;
  readonly file?: string;
  readonly field?: string;

  constructor(code: string, message: string, where: { file?: string; field?: string } = {}) {
    super(message);
    this.name = 'RwsError';
    this.code = code;
    this.file = where.file;
    this.field = where.field;
  }
}

/** Why JSON.parse refused a text, without the start of the text V8 quotes: a message never repeats what a file or a request held. */
export function jsonProblem(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/, ".*$/s, '');
}

/** True when `e` is one of our named errors (and not a crash). */
export function isRwsError(e: unknown): e is RwsError {
  return e instanceof RwsError;
}

/**
 * An error as a plain value, the one shape every boundary carries (worker thread, engine process,
 * Electron IPC, HTTP): the same code and message the CLI prints. Anything without a code is
 * `internal`.
 */
export interface ErrorInfo {
  code: string;
  message: string;
  file?: string;
  field?: string;
}

/** `e` as an ErrorInfo (no stack: it would leak paths across a transport). */
export function errorInfo(e: unknown): ErrorInfo {
  if (!e || typeof e !== 'object') return { code: 'internal', message: String(e) };
  const o = e as { code?: unknown; message?: unknown; file?: unknown; field?: unknown };
  const out: ErrorInfo = {
    code: typeof o.code === 'string' ? o.code : 'internal',
    message: typeof o.message === 'string' ? o.message : String(e),
  };
  if (typeof o.file === 'string') out.file = o.file;
  if (typeof o.field === 'string') out.field = o.field;
  return out;
}

/** The RwsError again on the receiving side of a boundary. */
export function errorFromInfo(e: ErrorInfo): RwsError {
  return new RwsError(e.code, e.message, { file: e.file, field: e.field });
}

/** A call's answer as it crosses a boundary: the value, or the error as a value. */
export type Reply<T = unknown> = { ok: true; value: T } | { ok: false; error: ErrorInfo };
