/**
 * The spool file's tables and format versions (`PRAGMA user_version`).
 *
 * - 0: readings packed as 28-byte READING payloads, every quantity measured.
 * - 1: readings packed as 29-byte records (protocol/record.ts), the payload
 *   plus which quantities are measured, so a Modbus sensor's absent
 *   quantity survives the spool.
 *
 * A spool left by an older release is converted in place, in one
 * transaction, when it is opened: its readings are forwarded as they were
 * committed. A spool from a newer release is refused rather than misread.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { PRESENT_ALL, READING_PAYLOAD_SIZE, READING_RECORD_SIZE } from "../protocol/mod.ts";

/** The format this release writes. */
export const SPOOL_VERSION = 1;

const TABLES = `
  CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    readings INTEGER NOT NULL,
    payload BLOB NOT NULL
  ) STRICT;
  CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    error TEXT NOT NULL,
    payload BLOB NOT NULL
  ) STRICT;
`;

/** The last seq given to each device-source sensor (Modbus, OPC UA). */
const SOURCE_SEQ_TABLE = `
  CREATE TABLE IF NOT EXISTS source_seq (
    sensor_id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
  ) STRICT;
`;

/**
 * Sets the spool's pragmas, creates its tables and brings an older file to
 * {@linkcode SPOOL_VERSION}. Throws `RangeError` for a newer file.
 */
export function prepareSpool(db: DatabaseSync, location: string): void {
  db.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA journal_size_limit = 67108864;
  `);
  const { user_version: version } = db.prepare("PRAGMA user_version").get() as {
    user_version: number;
  };
  if (version > SPOOL_VERSION) {
    throw new RangeError(
      `Cannot open spool "${location}": format version ${version} is newer than this release's ${SPOOL_VERSION}`,
    );
  }
  // Any version gains it as it is: it only adds what device sources write.
  db.exec(SOURCE_SEQ_TABLE);
  if (version === SPOOL_VERSION) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(TABLES);
    for (const table of ["batches", "rejected"]) {
      const ids = db.prepare(`SELECT id FROM ${table}`).all() as { id: number }[];
      const read = db.prepare(`SELECT payload FROM ${table} WHERE id = ?`);
      const write = db.prepare(`UPDATE ${table} SET payload = ? WHERE id = ?`);
      for (const { id } of ids) {
        const { payload } = read.get(id) as { payload: Uint8Array };
        write.run(widenPayloads(payload), id);
      }
    }
    db.exec(`PRAGMA user_version = ${SPOOL_VERSION}`);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

/** Version 0 → 1: each 28-byte payload gains a presence byte saying all three are measured. */
function widenPayloads(payload: Uint8Array): Uint8Array {
  const count = payload.length / READING_PAYLOAD_SIZE;
  const records = new Uint8Array(count * READING_RECORD_SIZE);
  for (let i = 0; i < count; i++) {
    const at = i * READING_RECORD_SIZE;
    records.set(payload.subarray(i * READING_PAYLOAD_SIZE, (i + 1) * READING_PAYLOAD_SIZE), at);
    records[at + READING_PAYLOAD_SIZE] = PRESENT_ALL;
  }
  return records;
}
