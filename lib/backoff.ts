/**
 * Retry pacing shared by every client in the pipeline: exponential backoff
 * with full jitter, so a plant's worth of sensors that lost the gateway at
 * the same moment do not all come back at the same moment.
 *
 * @module
 */

/** Bounds of an exponential backoff. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms. */
  readonly baseMs: number;
  /** Largest delay ceiling, in ms. */
  readonly maxMs: number;
  /** Source of randomness in [0, 1); `Math.random` by default. Tests pass a seeded one. */
  readonly random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first): a uniform
 * random value in [ceiling / 2, ceiling], where the ceiling doubles per
 * attempt from `baseMs` up to `maxMs`. Half the ceiling is kept as a floor
 * so a retry never spins immediately.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  const random = options.random ?? Math.random;
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Resolves after `ms`, or as soon as `signal` aborts (without throwing). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
