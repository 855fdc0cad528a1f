// Errors as they cross a transport of the contract: core's one definition (ErrorInfo), under the
// contract's names. No zod, no Node: the preload, the renderer and the engine process import it.
import { errorFromInfo, errorInfo, type ErrorInfo } from '../core/errors.js';

/** An error as it crosses a transport: the same code and message the CLI prints. */
export type ApiError = ErrorInfo;

/** Turn anything thrown into the error shape that crosses a transport. */
export const toApiError: (e: unknown) => ApiError = errorInfo;

/** The Error a client throws for an ApiError (same code, message, file, field). */
export const fromApiError = errorFromInfo;

export type { Reply } from '../core/errors.js';
