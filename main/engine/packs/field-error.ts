// A manifest field that does not hold, apart from the manifest's schema (zod), so that the check of
// a pack against its model (pack-model.ts, run where the model is parsed) does not load the schema.
import { RwsError } from '../../core/errors.js';

/** A refused field: the file (or command), the field, and why. */
export function fail(file: string, field: string, why: string): never {
  throw new RwsError('pack-field', `${file}: field "${field}": ${why}`, { file, field });
}
