/**
 * The gateway's durable spool: readings committed here are what an ACK
 * promises, so they survive a crash of the gateway and stay until the server
 * has answered 2xx for them.
 *
 * One SQLite file in WAL mode with `synchronous=FULL`: a commit returns only
 * once the WAL is on disk. That is affordable because the gateway commits a
 * whole flush (every reading of ~50 ms, all connections) in one transaction,
 * so ~20 fsyncs a second whatever the load. One row per batch, the readings
 * packed as 29-byte records (`encodeReadingRecord`: exact, fixed size, the
 * READING payload of docs/protocol.md plus which quantities are measured),
 * keeps SQLite's work per reading close to a memcpy:
 *
 * ```sql
 * batches(id INTEGER PRIMARY KEY, readings INTEGER, payload BLOB)  -- oldest first by id
 * rejected(id INTEGER PRIMARY KEY, at TEXT, error TEXT, payload BLOB)
 * source_seq(sensor_id INTEGER PRIMARY KEY, seq INTEGER)           -- device sources' last seq
 * ```
 *
 * A row holds at most {@linkcode MAX_BATCH_READINGS} readings, what one
 * `POST /api/data` may carry, so the forwarder never has to split a row.
 * `rejected` keeps a reading the server refused as invalid (400): kept for
 * an operator, never silently dropped, and out of the way of the rest.
 * `source_seq` is the last `seq` the gateway gave each sensor of a device
 * source (Modbus, OPC UA), written in the same transaction as the readings
 * carrying it, so a seq is never given twice, even across a crash.
 * The file's format versions and their migration: {@link ./spool_format.ts}.
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { READING_RECORD_SIZE } from "../protocol/mod.ts";
import { prepareSpool } from "./spool_format.ts";

/** The most readings one row (and so one forwarded request) holds: the server's batch limit. */
export const MAX_BATCH_READINGS = 10_000;

/** A committed batch as the forwarder reads it. */
export interface SpooledBatch {
  readonly id: number;
  readonly readings: number;
  /** `readings` × 29 bytes of packed reading records. */
  readonly payload: Uint8Array;
}

/** Options of {@linkcode openSpool}. */
export interface SpoolOptions {
  /** The bound, in readings, past which {@linkcode Spool.hasRoom} says no. */
  readonly maxReadings: number;
}

/** Which end of the backlog to read. */
export type SpoolEnd = "oldest" | "newest";

/**
 * What the spool tells its listeners: `committed` after new rows are
 * durable (work for the forwarder), `removed` after readings left (room for
 * held senders).
 */
export type SpoolEvent = "committed" | "removed";

/**
 * Opens (creating if needed) the spool at `path`, with its directory.
 * Throws what SQLite throws for a file that is not a database, and
 * `RangeError` for a spool written by a newer release.
 */
export function openSpool(path: string, options: SpoolOptions): Spool {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    return new Spool(db, options, path);
  } catch (error) {
    db.close();
    throw error;
  }
}

/** A durable queue of reading batches. Use {@linkcode openSpool}. */
export class Spool {
  #db: DatabaseSync;
  #insert: StatementSync;
  #oldest: StatementSync;
  #newest: StatementSync;
  #payload: StatementSync;
  #delete: StatementSync;
  #update: StatementSync;
  #reject: StatementSync;
  #markSeq: StatementSync;
  #depth: number;
  #batches: number;
  #maxReadings: number;
  #listeners: Record<SpoolEvent, Set<() => void>> = { committed: new Set(), removed: new Set() };

  constructor(db: DatabaseSync, options: SpoolOptions, location = ":memory:") {
    this.#db = db;
    this.#maxReadings = options.maxReadings;
    prepareSpool(db, location);
    this.#insert = db.prepare("INSERT INTO batches (readings, payload) VALUES (?, ?)");
    // Rows are chosen without their payloads, so skipping rows in flight reads no blob.
    this.#oldest = db.prepare("SELECT id, readings FROM batches ORDER BY id ASC");
    this.#newest = db.prepare("SELECT id, readings FROM batches ORDER BY id DESC");
    this.#payload = db.prepare("SELECT payload FROM batches WHERE id = ?");
    this.#delete = db.prepare("DELETE FROM batches WHERE id = ?");
    this.#update = db.prepare("UPDATE batches SET readings = ?, payload = ? WHERE id = ?");
    this.#reject = db.prepare("INSERT INTO rejected (at, error, payload) VALUES (?, ?, ?)");
    this.#markSeq = db.prepare(
      "INSERT INTO source_seq (sensor_id, seq) VALUES (?, ?) " +
        "ON CONFLICT (sensor_id) DO UPDATE SET seq = excluded.seq",
    );
    const row = db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(readings), 0) AS depth FROM batches")
      .get() as { n: number; depth: number };
    this.#batches = row.n;
    this.#depth = row.depth;
  }

  /** Readings waiting to be forwarded. */
  get depth(): number {
    return this.#depth;
  }

  /** Rows waiting to be forwarded. */
  get batches(): number {
    return this.#batches;
  }

  /** The bound in readings. */
  get maxReadings(): number {
    return this.#maxReadings;
  }

  /**
   * Calls `listener` after every `event`, once the spool's state (depth,
   * rows) already shows it; returns the function that stops it.
   */
  on(event: SpoolEvent, listener: () => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /** Whether `readings` more fit under the bound. */
  hasRoom(readings: number): boolean {
    return this.#depth + readings <= this.#maxReadings;
  }

  /**
   * Durably appends `readings` packed readings (`payload` holds exactly
   * `readings` × 29 bytes) in one transaction, as rows of at most
   * {@linkcode MAX_BATCH_READINGS}. When it returns, they survive a crash.
   * The bound is the caller's to check (with {@linkcode hasRoom}) before it
   * accepts readings; a commit never refuses what was already accepted.
   * `seqs` (sensor id → last seq given, for device sources) is stored in
   * the same transaction.
   */
  commit(payload: Uint8Array, readings: number, seqs?: ReadonlyMap<number, number>): void {
    if (readings === 0) return;
    if (payload.length !== readings * READING_RECORD_SIZE) {
      throw new RangeError(
        `Cannot commit batch: ${payload.length} bytes is not ${readings} packed readings`,
      );
    }
    const rowBytes = MAX_BATCH_READINGS * READING_RECORD_SIZE;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      let rows = 0;
      for (let start = 0; start < payload.length; start += rowBytes) {
        const part = payload.subarray(start, Math.min(payload.length, start + rowBytes));
        this.#insert.run(part.length / READING_RECORD_SIZE, part);
        rows++;
      }
      for (const [sensorId, seq] of seqs ?? []) this.#markSeq.run(sensorId, seq);
      this.#db.exec("COMMIT");
      this.#batches += rows;
      this.#depth += readings;
    } catch (error) {
      this.#rollback();
      throw error;
    }
    this.#emit("committed");
  }

  /**
   * Reads whole rows from one end of the backlog, as many as fit in
   * `maxReadings` (at least one when the spool holds a row not skipped).
   * Rows whose id is in `skip` (in flight in another request) are passed over.
   */
  take(end: SpoolEnd, maxReadings: number, skip?: ReadonlySet<number>): SpooledBatch[] {
    const chosen: { id: number; readings: number }[] = [];
    let total = 0;
    const statement = end === "oldest" ? this.#oldest : this.#newest;
    for (const row of statement.iterate() as Iterable<{ id: number; readings: number }>) {
      if (skip?.has(row.id)) continue;
      if (chosen.length > 0 && total + row.readings > maxReadings) break;
      chosen.push({ id: row.id, readings: row.readings });
      total += row.readings;
      if (total >= maxReadings) break;
    }
    return chosen.map(({ id, readings }) => ({
      id,
      readings,
      payload: (this.#payload.get(id) as { payload: Uint8Array }).payload,
    }));
  }

  /** Deletes rows the server has acknowledged (2xx), in one transaction. */
  remove(batches: readonly SpooledBatch[]): void {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      let removed = 0;
      let readings = 0;
      for (const batch of batches) {
        if (this.#delete.run(batch.id).changes > 0) {
          removed++;
          readings += batch.readings;
        }
      }
      this.#db.exec("COMMIT");
      this.#batches -= removed;
      this.#depth -= readings;
    } catch (error) {
      this.#rollback();
      throw error;
    }
    this.#emit("removed");
  }

  /**
   * Moves reading number `index` of `batch` to the `rejected` table with
   * `error` (the server's reason), leaving the rest of the row to forward.
   * Returns the row as it now is (undefined when it held only that reading).
   */
  reject(batch: SpooledBatch, index: number, error: string): SpooledBatch | undefined {
    const start = index * READING_RECORD_SIZE;
    const reading = batch.payload.slice(start, start + READING_RECORD_SIZE);
    const rest = new Uint8Array(batch.payload.length - READING_RECORD_SIZE);
    rest.set(batch.payload.subarray(0, start), 0);
    rest.set(batch.payload.subarray(start + READING_RECORD_SIZE), start);
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      this.#reject.run(new Date().toISOString(), error, reading);
      if (rest.length === 0) this.#delete.run(batch.id);
      else this.#update.run(batch.readings - 1, rest, batch.id);
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#rollback();
      throw error;
    }
    this.#depth -= 1;
    if (rest.length === 0) this.#batches -= 1;
    this.#emit("removed");
    return rest.length === 0
      ? undefined
      : { id: batch.id, readings: batch.readings - 1, payload: rest };
  }

  /** The last seq given to each device-source sensor, as committed. */
  sourceSeqs(): Map<number, number> {
    const rows = this.#db.prepare("SELECT sensor_id, seq FROM source_seq").all() as {
      sensor_id: number;
      seq: number;
    }[];
    return new Map(rows.map((row) => [row.sensor_id, row.seq]));
  }

  /** Closes the database; every commit already returned is on disk. */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  #emit(event: SpoolEvent): void {
    for (const listener of this.#listeners[event]) listener();
  }

  #rollback(): void {
    try {
      this.#db.exec("ROLLBACK");
    } catch { /* the failed statement may have ended the transaction already */ }
  }
}
