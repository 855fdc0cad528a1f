// The sizes rws accepts from a pack, a model or a caller, checked before anything is allocated for
// them (README: "Limits"). A declared size beyond these is refused by name, never attempted.

/** Largest model input side, in pixels: one decoded image stays under 4096 × 4096 × 3 floats (192 MiB). */
export const MAX_INPUT_SIDE = 4096;

/** Most labels (classes) a pack may list. */
export const MAX_LABELS = 100_000;

/** Most images in one inference batch. */
export const MAX_BATCH = 4096;

/** Largest batch input tensor a caller may ask for (`--batch`), in bytes. */
export const MAX_BATCH_TENSOR_BYTES = 1024 * 1024 * 1024;

/** Largest `pack.json`. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** Largest model or signature file (protobuf's own limit for one ONNX message). */
export const MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024;

/** Largest mean, range bound or 1/std a pack's input normalisation may use: its inputs stay finite in float32. */
export const MAX_INPUT_MAGNITUDE = 1e6;

/** Largest |value| a signature's delta may hold: a weight plus 4× it stays far from float32's range (a log-variance delta that overflows exp is refused when patched). */
export const MAX_DELTA = 1e6;

