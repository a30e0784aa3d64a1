/**
 * The outage of the pipeline benchmark's `outage` mode: the server stops
 * while the sensors go on, stays down for a while, comes back on the same
 * port with the same database, and the time the gateway takes to drain the
 * backlog is measured.
 *
 * "Drained" is the spool back to its depth before the outage: the largest
 * depth sampled over the {@linkcode BASELINE_MS} before the server stopped
 * (a spool under steady load always holds a commit or two in flight). The
 * drain time runs from the server's `listening` line, so it includes the
 * gateway noticing the server is back (its retry backoff), not only the
 * forwarding.
 *
 * @module
 */

/** How long the spool depth is sampled before the outage to know its steady level. */
export const BASELINE_MS = 2_000;
const BASELINE_EVERY_MS = 100;
const OUTAGE_EVERY_MS = 500;
const DRAIN_EVERY_MS = 50;

/** What the outage needs from the run. */
export interface OutageOptions {
  /** Seconds the server stays down. */
  readonly seconds: number;
  /** Longest wait for the drain, in ms, before it is reported as not drained. */
  readonly drainTimeoutMs: number;
  /** Stops the server. */
  readonly stopServer: () => Promise<void>;
  /** Starts it again on the same port; resolves once it listens. */
  readonly startServer: () => Promise<void>;
  /** The gateway's spool depth now, in readings. */
  readonly spoolDepth: () => Promise<number>;
  readonly progress: (line: string) => void;
}

/** What one outage came to. */
export interface OutageResult {
  readonly seconds: number;
  /** Spool depth before the outage (the largest sampled). */
  readonly baseline: number;
  /** Largest spool depth seen during the outage and the drain. */
  readonly peak: number;
  /** Seconds from the server's return to the spool back at its baseline; undefined: not drained. */
  readonly drainSeconds: number | undefined;
}

/** Runs the outage; see the module doc. */
export async function runOutage(options: OutageOptions): Promise<OutageResult> {
  let baseline = 0;
  const baselineEnd = performance.now() + BASELINE_MS;
  while (performance.now() < baselineEnd) {
    baseline = Math.max(baseline, await options.spoolDepth());
    await delay(BASELINE_EVERY_MS);
  }
  await options.stopServer();
  options.progress(`server stopped for ${options.seconds} s (spool depth before: ${baseline})`);
  let peak = baseline;
  const downUntil = performance.now() + options.seconds * 1000;
  while (performance.now() < downUntil) {
    peak = Math.max(peak, await options.spoolDepth());
    await delay(Math.min(OUTAGE_EVERY_MS, downUntil - performance.now()));
  }
  await options.startServer();
  const back = performance.now();
  for (;;) {
    const depth = await options.spoolDepth();
    peak = Math.max(peak, depth);
    const elapsed = performance.now() - back;
    if (depth <= baseline) {
      const drainSeconds = elapsed / 1000;
      options.progress(`server back: backlog of ${peak} drained in ${drainSeconds.toFixed(1)} s`);
      return { seconds: options.seconds, baseline, peak, drainSeconds };
    }
    if (elapsed > options.drainTimeoutMs) {
      options.progress(`server back: spool at ${depth} after ${elapsed / 1000} s, not drained`);
      return { seconds: options.seconds, baseline, peak, drainSeconds: undefined };
    }
    await delay(DRAIN_EVERY_MS);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
