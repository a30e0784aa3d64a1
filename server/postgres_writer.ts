/**
 * Group commit into PostgreSQL: requests that arrive together are stored by
 * one `INSERT` (one transaction, one WAL flush), as the SQLite writers do
 * (writer.ts), and each request is answered once the commit holding it
 * has returned.
 *
 * A group goes in as one statement: seven arrays (`unnest`), sorted by the
 * reading's identity, `ON CONFLICT DO NOTHING` on the primary key, so a
 * reading stored by another instance (or repeated) is a duplicate, not an
 * error. Sorting makes every transaction take the key locks in the same
 * order, so two instances storing overlapping batches wait for each other
 * instead of deadlocking (a deadlock that happens anyway is retried). Why
 * arrays rather than COPY: docs/postgres.md.
 *
 * Each row's cursor is `(transaction id << 17) + its position in the
 * statement`: see {@link ./postgres_storage.ts} and docs/postgres.md.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Sql } from "./postgres_schema.ts";
import type { WriteResult } from "./storage.ts";
import { DAY_MS, deleteDefaultBefore, dropPartitionsBefore } from "./postgres_partitions.ts";
import {
  type CommitInfo,
  commitInfo,
  type Pending,
  takeGroup,
  type Writer,
  type WriterOptions,
} from "./writer.ts";

/** Bits of a cursor below the transaction id: the row's position in its statement. */
export const POSITION_BITS = 17;
/** Most rows one statement may insert (positions 1 .. 2^17 − 1). */
const MAX_ROWS = (1 << POSITION_BITS) - 1;
/** Groups in flight at once: the next is sent while the previous waits for its WAL flush. */
const CONCURRENCY = 2;
/** Attempts of a group that hit a deadlock or a serialization failure. */
const ATTEMPTS = 5;
/** The channel `/api/live` of every instance listens on. */
export const STORED_CHANNEL = "vigia_readings";

/** The PostgreSQL writer; see the module doc. */
export class PostgresWriter implements Writer {
  #sql: Sql;
  #queue: Pending[] = [];
  #running = 0;
  #idle = Promise.withResolvers<void>();
  #closed = false;
  #onCommit: ((info: CommitInfo) => void) | undefined;

  constructor(sql: Sql, options: WriterOptions = {}) {
    this.#sql = sql;
    this.#onCommit = options.onCommit;
    this.#idle.resolve();
  }

  /** Never set: a failed commit fails its requests only, and the next one tries again. */
  readonly failure: Error | undefined = undefined;

  write(readings: readonly Reading[]): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(new Error("Cannot write: the store writer is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ readings, resolve, reject });
      this.#pump();
    });
  }

  /**
   * Retention by whole days (postgres_partitions.ts): drops the day
   * partitions that end before the start of `cutoff`'s day, then deletes
   * up to `limit` older readings of the default partition.
   */
  async deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }> {
    const day = Math.floor(cutoff / DAY_MS) * DAY_MS;
    const dropped = await dropPartitionsBefore(this.#sql, day);
    const deleted = await deleteDefaultBefore(this.#sql, day, limit);
    return { deleted: dropped + deleted, done: deleted < limit };
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#queue.length > 0 || this.#running > 0) await this.#idle.promise;
  }

  #pump(): void {
    while (this.#running < CONCURRENCY && this.#queue.length > 0) {
      const group = takeGroup(this.#queue, (pending) => pending.readings.length);
      if (this.#running++ === 0) this.#idle = Promise.withResolvers<void>();
      this.#commit(group).finally(() => {
        if (--this.#running === 0 && this.#queue.length === 0) this.#idle.resolve();
        this.#pump();
      });
    }
  }

  async #commit(group: Pending[]): Promise<void> {
    const started = performance.now();
    let results: WriteResult[];
    try {
      results = await this.#insert(group.map((pending) => pending.readings));
    } catch (error) {
      for (const pending of group) pending.reject(error);
      return;
    }
    group.forEach((pending, i) => pending.resolve(results[i]!));
    this.#onCommit?.(commitInfo(results, (performance.now() - started) / 1000));
  }

  /** Stores the batches in one statement; per batch, how many were new. */
  async #insert(batches: readonly (readonly Reading[])[]): Promise<WriteResult[]> {
    const rows: { reading: Reading; batch: number }[] = [];
    batches.forEach((batch, index) => {
      for (const reading of batch) rows.push({ reading, batch: index });
    });
    if (rows.length > MAX_ROWS) throw new RangeError(`Cannot store ${rows.length} rows at once`);
    // Identity order (then batch: the first batch holding a reading stores it).
    rows.sort((a, b) =>
      a.reading.sensorId - b.reading.sensorId || a.reading.timestamp - b.reading.timestamp ||
      a.reading.seq - b.reading.seq || a.batch - b.batch
    );
    const columns = {
      sensor: rows.map((row) => row.reading.sensorId),
      seq: rows.map((row) => row.reading.seq),
      ts: rows.map((row) => row.reading.timestamp),
      temperature: rows.map((row) => row.reading.temperature),
      pressure: rows.map((row) => row.reading.pressure),
      humidity: rows.map((row) => row.reading.humidity),
      batch: rows.map((row) => row.batch),
    };
    for (let attempt = 1;; attempt++) {
      try {
        const stored = await this.#sql<{ batch: number; stored: number }[]>`
          WITH input AS (
            SELECT * FROM unnest(
              ${columns.sensor}::int8[], ${columns.seq}::int8[], ${columns.ts}::int8[],
              ${columns.temperature}::int4[], ${columns.pressure}::int4[],
              ${columns.humidity}::int4[], ${columns.batch}::int4[]
            ) WITH ORDINALITY AS r(sensor_id, seq, ts, temperature, pressure, humidity, batch, n)
          ), inserted AS (
            INSERT INTO readings (cursor, sensor_id, seq, ts, temperature, pressure, humidity)
            SELECT (pg_current_xact_id()::text::int8 << ${POSITION_BITS}) + n,
              sensor_id, seq, ts, temperature, pressure, humidity
            FROM input ORDER BY n
            ON CONFLICT DO NOTHING
            RETURNING cursor & ${MAX_ROWS} AS n
          )
          SELECT input.batch, count(*)::int8 AS stored,
            pg_notify(${STORED_CHANNEL}, '') IS NULL AS notified
          FROM inserted JOIN input USING (n) GROUP BY input.batch`;
        const results = batches.map((batch) => ({ stored: 0, duplicates: batch.length }));
        for (const { batch, stored: count } of stored) {
          results[batch] = { stored: count, duplicates: batches[batch]!.length - count };
        }
        return results;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= ATTEMPTS || (code !== "40P01" && code !== "40001")) throw error;
      }
    }
  }
}
