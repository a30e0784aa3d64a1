/**
 * A small seeded PRNG (mulberry32: tiny, fast, well mixed), so simulated
 * values and randomized tests are reproducible from one printed seed.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRandom } from "./random.ts";
 *
 * assert.equal(seededRandom(7)(), seededRandom(7)());
 * ```
 *
 * @module
 */

/** Returns a generator of floats in [0, 1) determined by `seed` (a u32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
