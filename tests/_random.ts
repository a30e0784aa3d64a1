/**
 * Seeded randomness for tests (lib/random.ts) so randomized tests are reproducible:
 * a failure prints its seed and the same inputs come back with it.
 *
 * @module
 */

export { seededRandom } from "../lib/random.ts";

/** An integer in [min, max] (inclusive) drawn from `random`. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** `length` random bytes drawn from `random`. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}
