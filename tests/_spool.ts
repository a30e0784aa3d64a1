/**
 * The gateway's spool payloads for tests: readings packed as the gateway
 * stores them (READING payloads back to back), unpacked again, and read
 * straight from a spool file with a plain SQLite connection.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import {
  decodeReadingPayload,
  encodeReadingPayload,
  type Reading,
  READING_PAYLOAD_SIZE,
} from "../protocol/mod.ts";
import type { Spool } from "../gateway/spool.ts";

/** `readings` as one spool payload. */
export function packReadings(readings: readonly Reading[]): Uint8Array {
  const bytes = new Uint8Array(readings.length * READING_PAYLOAD_SIZE);
  readings.forEach((r, i) => encodeReadingPayload(bytes, i * READING_PAYLOAD_SIZE, r));
  return bytes;
}

/** Commits `readings` to `spool` as one batch. */
export function commitReadings(spool: Spool, readings: readonly Reading[]): void {
  spool.commit(packReadings(readings), readings.length);
}

/** The readings of one spool payload, in order. */
export function unpackReadings(payload: Uint8Array): Reading[] {
  const readings: Reading[] = [];
  for (let offset = 0; offset < payload.length; offset += READING_PAYLOAD_SIZE) {
    const { type: _frameType, ...reading } = decodeReadingPayload(payload, offset);
    readings.push(reading);
  }
  return readings;
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
    return rows.flatMap(({ payload }) => unpackReadings(payload));
  } finally {
    db.close();
  }
}
