/**
 * `query --once`: one look at the latest state, for cron and CI. Each known
 * sensor's newest reading is judged on its own (no history, so no
 * deadband), and a sensor whose newest reading is older than the stale
 * time is stale. Here staleness compares the reading's own timestamp with
 * the client's clock, the only measure a single look has, so a sensor clock
 * running behind can look stale.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { DEFAULT_THRESHOLDS, type Thresholds } from "../lib/thresholds.ts";
import { type AlarmEvent, judgeReading } from "./alarms.ts";
import { ApiClient, UnreachableError } from "./api.ts";

/** Options of {@linkcode checkOnce}. */
export interface CheckOnceOptions {
  /** Silence before a sensor is stale, in ms; 0 disables. */
  readonly staleMs: number;
  /** Thresholds from a file; otherwise the server's, or the built-in ones. */
  readonly thresholds?: Thresholds | undefined;
  /** Receives every active alarm. */
  readonly emit: (event: AlarmEvent) => void;
  readonly log: Logger;
  /** The clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * Reports every active alarm and returns the exit code: 0 when none is
 * active, 1 when any is. Throws a one-line `Error` when the server cannot
 * be read.
 */
export async function checkOnce(
  client: ApiClient,
  signal: AbortSignal,
  options: CheckOnceOptions,
): Promise<number> {
  const { log, emit, staleMs } = options;
  try {
    const thresholds = options.thresholds ?? (await client.thresholds(signal)) ??
      DEFAULT_THRESHOLDS;
    const sensors = await client.sensors(signal);
    const nowMs = (options.now ?? Date.now)();
    let active = 0;
    for (const sensor of sensors) {
      const last = sensor.last ?? await client.latestReading(sensor.id, signal);
      for (const event of last ? judgeReading(last, thresholds) : []) {
        emit(event);
        active++;
      }
      const silentMs = nowMs - sensor.lastSeen;
      if (staleMs > 0 && silentMs >= staleMs) {
        emit({ type: "stale", sensor: sensor.id, silentMs, timestamp: nowMs });
        active++;
      }
    }
    log.info(`checked ${sensors.length} sensors: ${active} alarms active`);
    return active > 0 ? 1 : 0;
  } catch (error) {
    if (signal.aborted) throw new Error("Cannot finish the check: interrupted");
    if (error instanceof UnreachableError) {
      throw new Error(`Cannot reach ${client.base}: ${error.detail}`, { cause: error });
    }
    throw error;
  }
}
