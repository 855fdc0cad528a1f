/**
 * The argument schema of every command of the contract (contract.ts), validated before use by the
 * service (main/service) whichever transport a call came through.
 */
import { z } from 'zod';
import { RwsError } from '../core/errors.js';
import { MAX_INPUT_SIDE } from '../core/limits.js';
import { MAX_STRENGTH } from '../core/mix.js';
import { DEVICE_IDS, type CommandName } from './names.js';

const idText = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'an id is lower-case letters, digits and dashes');
const mixRecord = z.record(idText, z.number().finite().min(-MAX_STRENGTH).max(MAX_STRENGTH));
/** A mix as a record, or as text: `off`, a named condition or mix id, or `ID=α,ID=α`. */
export const MixSchema = z.union([mixRecord, z.string().max(1000)]);

/** A path on the engine's machine; `rws serve` accepts only paths inside its `--root` folders. */
const pathText = z.string().min(1).max(4096);

/** An image in memory: HWC, values 0..1 (the core's corruption `Image`). */
export const ImageSchema = z
  .object({
    width: z.number().int().positive().max(8192),
    height: z.number().int().positive().max(8192),
    channels: z.union([z.literal(1), z.literal(3)]),
    data: z.union([z.instanceof(Float32Array), z.array(z.number())]),
  })
  .refine((im) => im.data.length === im.width * im.height * im.channels, {
    message: 'data must hold width × height × channels values',
    path: ['data'],
  });

const none = z.object({}).strict().optional();

export const schemas = {
  getState: none,
  loadPack: z.object({ dir: pathText.optional() }).strict().optional(),
  getPack: none,
  listDevices: none,
  setDevice: z.object({ device: z.enum(DEVICE_IDS) }).strict(),
  setMix: z.object({ mix: MixSchema }).strict(),
  classifyFrame: z
    .object({
      width: z.number().int().positive().max(MAX_INPUT_SIDE),
      height: z.number().int().positive().max(MAX_INPUT_SIDE),
      channels: z.union([z.literal(1), z.literal(3)]),
      /**
       * Already at the model's input size, HWC, grey or RGB: 8-bit values as bytes (what a camera
       * gives; the app sends these), or 0..1 values that are rounded to bytes as a decoded file is.
       * The engine applies mean/std and layout.
       */
      data: z.union([z.instanceof(Uint8Array), z.instanceof(Float32Array), z.array(z.number())]),
      /** Also run the clean model. */
      compare: z.boolean().optional(),
      top: z.number().int().min(1).max(100).optional(),
      /** Let the pack's condition classifier choose the mix, following the frames (needs the pack's `autoMix`). */
      auto: z.boolean().optional(),
    })
    .strict()
    .refine((f) => f.data.length === f.width * f.height * f.channels, {
      message: 'data must hold width × height × channels values',
      path: ['data'],
    }),
  startFolderRun: z
    .object({
      inputs: z.array(pathText).min(1).max(1000),
      output: pathText,
      /** Default: the current mix. */
      mix: MixSchema.optional(),
      /** Let Auto choose each file's mix by the model's own outputs (sample, then commit); `mix` is then ignored. */
      auto: z.boolean().optional(),
      top: z.number().int().min(1).max(100).optional(),
      copyToClassFolders: z.boolean().optional(),
      batch: z.number().int().min(1).max(1024).optional(),
      /**
       * When `output` already holds a run: `resume` continues that run (from its journal), `replace`
       * starts again and swaps the new results in only once the new run is done (the old ones stay
       * until then). Without it such a folder is refused (code `output-has-run`).
       */
      existing: z.enum(['resume', 'replace']).optional(),
    })
    .strict(),
  stopFolderRun: none,
  resumeFolderRun: z.object({ output: pathText.optional() }).strict().optional(),
  getFolderResults: z
    .object({
      offset: z.number().int().min(0).optional(),
      limit: z.number().int().min(1).max(10_000).optional(),
    })
    .strict()
    .optional(),
  exportResults: z.object({ format: z.enum(['csv', 'json']), file: pathText }).strict(),
  listRoots: none,
  browse: z.object({ dir: pathText }).strict(),
  evaluate: z
    .object({
      /** Labelled image folder (one subfolder per class) or a Fashion-MNIST idx folder. */
      data: pathText.optional(),
      conditions: z.array(idText).max(50).optional(),
      severities: z.array(z.number().int().min(1).max(5)).max(5).optional(),
      /** Images per condition and severity. */
      limit: z.number().int().min(1).max(100_000).optional(),
      seed: z.number().int().optional(),
    })
    .strict()
    .optional(),
  previewCondition: z
    .object({
      condition: idText,
      /** One of the condition's generator families (`rws corrupt --families`); default its first. */
      family: idText.optional(),
      /** 1 (light) through 3 (moderate) to 5 (heavy); fractions allowed for families. */
      severity: z.number().min(1).max(5),
      seed: z.number().int().optional(),
      image: ImageSchema,
    })
    .strict(),
  getThumbnail: z.object({ file: pathText, size: z.number().int().min(8).max(1024).optional() }).strict(),
  uploadFiles: z
    .object({
      /** Continue filling this run folder (from a previous call); default a new one. */
      folder: pathText.optional(),
      files: z
        .array(
          z.object({
            /** Relative path inside the run folder (sub-folders kept), no `..`. */
            name: z.string().min(1).max(1024),
            data: z.instanceof(Uint8Array),
          }),
        )
        .min(1)
        .max(1000),
    })
    .strict(),
  classifyFile: z
    .object({
      file: pathText,
      /** Default: the engine's current mix. */
      mix: MixSchema.optional(),
      /** An Auto hedge's second mix: the patched prediction is the mean of both mixes' probabilities (as the folder run made it). */
      blend: MixSchema.optional(),
      top: z.number().int().min(1).max(100).optional(),
      /** A condition simulated on the image (at the model's size, by `rws corrupt`'s code) before both models see it. */
      simulate: z
        .object({
          condition: idText,
          family: idText.optional(),
          severity: z.number().min(1).max(5),
          seed: z.number().int().optional(),
        })
        .strict()
        .optional(),
    })
    .strict(),
  cancelEvaluation: none,
  readResults: z.object({ format: z.enum(['csv', 'json']) }).strict(),
} as const satisfies Record<CommandName, z.ZodType>;

/** Validate a command's arguments; throws RwsError('bad-argument') naming the field. */
export function parseArgs<K extends CommandName>(command: K, args: unknown): z.output<(typeof schemas)[K]> {
  const parsed = schemas[command].safeParse(args);
  if (parsed.success) return parsed.data as z.output<(typeof schemas)[K]>;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.') || '(arguments)';
  throw new RwsError('bad-argument', `${command}: field "${field}": ${issue.message}`, { field });
}

