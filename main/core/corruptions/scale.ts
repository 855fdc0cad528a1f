/** How a strength from 1 (light) to 5 (heavy) maps onto a physical quantity. */

/** Geometric interpolation from `a` (strength 1) to `b` (strength 5). */
export function geometric(a: number, b: number, strength: number): number {
  return a * (b / a) ** ((strength - 1) / 4);
}

/** Linear interpolation from `a` (strength 1) to `b` (strength 5). */
export function linear(a: number, b: number, strength: number): number {
  return a + ((b - a) * (strength - 1)) / 4;
}
