/**
 * `--retain-days`: deletes readings older than `days` every minute, with
 * their summaries, a few thousand per transaction with a pause between, so
 * a large first clean-up never stalls the writes that share the database.
 *
 * @module
 */

import { sleep } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import type { Metrics } from "./metrics.ts";
import type { Writer } from "./writer.ts";

/** Readings deleted per transaction. */
const CHUNK = 2_000;
/** Pause between two chunks, so writes get the database in between. */
const CHUNK_PAUSE_MS = 10;
/** How often the window is applied again. */
const INTERVAL_MS = 60_000;

/**
 * Keeps `days` of readings until `signal` aborts. A failed pass is logged
 * and retried at the next interval; the loop never throws.
 */
export async function retainReadings(
  writer: Writer,
  days: number,
  context: { signal: AbortSignal; log: Logger; metrics: Metrics },
): Promise<void> {
  const { signal, log, metrics } = context;
  while (!signal.aborted) {
    const cutoff = Date.now() - days * 86_400_000;
    let total = 0;
    try {
      while (!signal.aborted) {
        const { deleted, done } = await writer.deleteBefore(cutoff, CHUNK);
        total += deleted;
        metrics.retentionDeleted += deleted;
        if (done) break;
        await sleep(CHUNK_PAUSE_MS, signal);
      }
    } catch (error) {
      log.error("retention failed", { error: (error as Error).message });
    }
    if (total > 0) log.info("retention deleted old readings", { readings: total });
    await sleep(INTERVAL_MS, signal);
  }
}
