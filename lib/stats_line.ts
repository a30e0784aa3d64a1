/**
 * The periodic `stats` log line every long-running program writes: what
 * its counters say now, and how fast the ones that matter moved since the
 * previous line.
 *
 * @module
 */

import type { LogFields, Logger } from "./log.ts";

/** Options of {@linkcode startStatsLine}. */
export interface StatsLineOptions {
  /** Period in ms; 0 = no stats line. */
  readonly intervalMs: number;
  /**
   * Counters to report as a rate, by the field that carries it
   * (`{ ack_per_s: counters.acknowledged }`): per second since the previous line.
   */
  readonly rates: () => Readonly<Record<string, number>>;
  /** The line's other fields, as they are now. */
  readonly fields: () => LogFields;
  /** Write no line while `fields()` is as it was at the previous one (an idle process stays quiet). */
  readonly skipUnchanged?: boolean;
  /** Add the process's memory: `rss_mb`, `heap_mb`. */
  readonly memory?: boolean;
}

/** Logs `stats` every `intervalMs`; returns the function that stops it. */
export function startStatsLine(log: Logger, options: StatsLineOptions): () => void {
  const { intervalMs } = options;
  if (intervalMs <= 0) return () => {};
  const seconds = intervalMs / 1000;
  let lastCounts = options.rates();
  let lastFields = "";
  const timer = setInterval(() => {
    const fields = options.fields();
    if (options.skipUnchanged) {
      const snapshot = JSON.stringify(fields);
      if (snapshot === lastFields) return;
      lastFields = snapshot;
    }
    const counts = options.rates();
    const rates: Record<string, number> = {};
    for (const [name, count] of Object.entries(counts)) {
      rates[name] = Math.round((count - (lastCounts[name] ?? 0)) / seconds);
    }
    lastCounts = counts;
    const memory = options.memory ? memoryFields() : {};
    log.info("stats", { ...rates, ...fields, ...memory });
  }, intervalMs);
  return () => clearInterval(timer);
}

function memoryFields(): LogFields {
  const memory = Deno.memoryUsage();
  return {
    rss_mb: Math.round(memory.rss / 1048576),
    heap_mb: Math.round(memory.heapUsed / 1048576),
  };
}
