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

/** True when `e` is one of our named errors (and not a crash). */
export function isRwsError(e: unknown): e is RwsError {
  return e instanceof RwsError;
}
