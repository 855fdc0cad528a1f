// The `autoMix` field of pack.json: what `--mix auto` needs to recognise the condition by itself.
import { z } from 'zod';

const condition = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'a condition id is lower-case letters, digits and dashes');

export const AutoMixSchema = z.object({
  /** Multinomial logistic regression on the condition features (main/core/condition-features.ts). */
  classifier: z
    .object({
      features: z.string().min(1),
      classes: z.array(z.object({ condition, severity: z.number().int().min(0).max(5) })).min(1),
      mean: z.array(z.number().finite()),
      std: z.array(z.number().finite().positive()),
      weights: z.array(z.number().finite()),
      bias: z.array(z.number().finite()),
    })
    .optional(),
  /** Strength of each condition's mix at severities 1–5 (default 1 at every severity). */
  alpha: z.record(condition, z.array(z.number().finite().min(0).max(4)).length(5)).optional(),
  /** Hysteresis and averaging (main/core/auto-tracker.ts). */
  tracker: z
    .object({
      rate: z.number().gt(0).max(1),
      margin: z.number().min(0).max(1),
      minConfidence: z.number().min(0).max(1),
      hold: z.number().int().min(1),
      dropBelow: z.number().min(0).max(1),
    })
    .partial()
    .optional(),
});

export type AutoMixSpec = z.infer<typeof AutoMixSchema>;
