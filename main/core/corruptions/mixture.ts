/**
 * Randomised draws of a condition across its generator families and strengths: what signatures and
 * the Auto classifier are trained on, so that they hold on the phenomenon rather than on one
 * generator. Leaving a lineage out (`exclude`) gives the leave-one-family-out training sets.
 */
import { RwsError } from '../errors.js';
import { createRandom, type Random } from '../random.js';
import { familiesOf, type Family } from './families.js';
import type { Image } from './image.js';
import { corrupt } from './index.js';
import { applyNuisance, drawNuisance, type NuisanceLevel } from './nuisance.js';

/** Which families and strengths a draw may take. */
export interface MixtureOptions {
  /** Family ids to draw from (default: all of the condition's). */
  only?: readonly string[];
  /** Lineages or family ids to leave out (leave-one-family-out training). */
  exclude?: readonly string[];
  /** Strength range, drawn uniformly (default 1–5: light to heavy). */
  strength?: readonly [number, number];
}

/** One randomised corruption: a family of the condition, a strength and a seed. */
export interface ConditionDraw {
  condition: string;
  family: string;
  strength: number;
  seed: number;
  /** Seed of camera nuisances applied after the condition (nuisance.ts); none when absent. */
  nuisance?: number;
  /** Their reach (default standard). */
  nuisanceLevel?: NuisanceLevel;
}

/** The families a mixture of `condition` draws from, `exclude` left out; refuses an empty mixture. */
export function mixtureFamilies(condition: string, opts: MixtureOptions = {}): Family[] {
  const out = new Set(opts.exclude ?? []);
  const only = opts.only && new Set(opts.only);
  const fams = familiesOf(condition).filter((f) => (!only || only.has(f.id)) && !out.has(f.lineage) && !out.has(f.id));
  if (!fams.length) {
    throw new RwsError('usage-family', `condition "${condition}": no generator family left after leaving out ${[...out].join(', ') || 'none'}`, { field: 'family' });
  }
  return fams;
}

/** Draws a family (uniformly), a strength (uniformly in the range) and a seed for one image. */
export function drawCondition(condition: string, rng: Random, opts: MixtureOptions = {}): ConditionDraw {
  const fams = mixtureFamilies(condition, opts);
  const [lo, hi] = opts.strength ?? [1, 5];
  const family = fams[rng.int(fams.length)]!.id;
  return { condition, family, strength: lo + (hi - lo) * rng.next(), seed: Math.floor(rng.next() * 2 ** 32) };
}

/** Applies a draw: the same image and draw give the same result. */
export function applyDraw(img: Image, draw: ConditionDraw): Image {
  const out = corrupt(img, `${draw.condition}/${draw.family}`, draw.strength, draw.seed);
  if (draw.nuisance === undefined) return out;
  const rng = createRandom(draw.nuisance);
  return applyNuisance(out, drawNuisance(rng, draw.nuisanceLevel), rng);
}
