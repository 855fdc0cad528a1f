// The decoder's limits, apart from the decoder: a command line names them in its flags without
// loading sharp.

/** Largest image decoded by default (100 megapixels): bigger ones are refused as pixel bombs. */
export const DEFAULT_MAX_PIXELS = 100_000_000;
