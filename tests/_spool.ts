/**
 * The gateway's spool for tests: readings committed as the gateway commits
 * them (reading records back to back, protocol/record.ts), and read straight
 * from a spool file with a plain SQLite connection.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { decodeReadingRecords, encodeReadingRecords, type Reading } from "../protocol/mod.ts";
import type { Spool } from "../gateway/spool.ts";

/** Commits `readings` to `spool` as one batch. */
export function commitReadings(spool: Spool, readings: readonly Reading[]): void {
  spool.commit(encodeReadingRecords(readings), readings.length);
}

/**
 * Every reading in a gateway spool file, oldest row first. Read-only by
 * default; `readOnly: false` opens it as the gateway would on its next
 * start (so a hot WAL left by a SIGKILL is recovered as the gateway would).
 */
export function spooledReadings(path: string, options: { readOnly?: boolean } = {}): Reading[] {
  const db = new DatabaseSync(path, { readOnly: options.readOnly ?? true });
  try {
    const rows = db.prepare("SELECT payload FROM batches ORDER BY id").all() as {
      payload: Uint8Array;
    }[];
    return rows.flatMap(({ payload }) => decodeReadingRecords(payload));
  } finally {
    db.close();
  }
}
