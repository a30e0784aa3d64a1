// @ts-check
/**
 * Retry pacing shared by every client in the pipeline — the sensor's link,
 * the gateway's forwarder and Modbus poller, the query client and the
 * dashboard's live feed:
 * exponential backoff with equal jitter (half the delay fixed, half random),
 * so a plant's worth of sensors that lost the gateway at the same moment do
 * not all come back at the same moment, yet none retries at once.
 *
 * Plain JavaScript with JSDoc types so that the Deno programs and the
 * browser import this one file (the server serves it under `/shared/`).
 *
 * ```js
 * import assert from "node:assert/strict";
 * import { backoffDelay } from "./backoff.js";
 *
 * const options = { baseMs: 500, maxMs: 30_000, random: () => 0 };
 * assert.equal(backoffDelay(0, options), 250);
 * assert.equal(backoffDelay(3, options), 2000);
 * ```
 *
 * @module
 */

/**
 * Bounds of an exponential backoff.
 * @typedef {object} BackoffOptions
 * @property {number} baseMs Delay ceiling of the first retry, in ms.
 * @property {number} maxMs Largest delay ceiling, in ms.
 * @property {() => number} [random] Source of randomness in [0, 1); `Math.random`
 *   by default. Tests pass a seeded one.
 */

/**
 * The delay before retry number `attempt` (0 for the first): a uniform
 * random value in [ceiling / 2, ceiling], where the ceiling doubles per
 * attempt from `baseMs` up to `maxMs`. Half the ceiling is kept as a floor
 * so a retry never spins immediately.
 * @param {number} attempt
 * @param {Readonly<BackoffOptions>} options
 * @returns {number}
 */
export function backoffDelay(attempt, options) {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const random = options.random ?? Math.random;
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Resolves after `ms`, or as soon as `signal` aborts (without throwing).
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Runs `task` until it resolves. After each failure `onRetry` hears the
 * error, the attempt that failed (1 for the first) and the wait before the
 * next one ({@linkcode backoffDelay}). Rejects only when `signal` aborts,
 * with the last error.
 * @template T
 * @param {(signal: AbortSignal) => Promise<T>} task
 * @param {Readonly<BackoffOptions> & {
 *   signal?: AbortSignal, onRetry?: (error: unknown, attempt: number, delayMs: number) => void
 * }} options
 * @returns {Promise<T>}
 */
export async function retry(task, options) {
  const signal = options.signal ?? new AbortController().signal;
  for (let attempt = 0;; attempt++) {
    try {
      return await task(signal);
    } catch (error) {
      if (signal.aborted) throw error;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, signal);
      if (signal.aborted) throw error;
    }
  }
}
