/**
 * Group commit into PostgreSQL: requests that arrive together are stored in
 * one transaction (one WAL flush), as the SQLite writers do (writer.ts),
 * and each request is answered once the commit holding it has returned.
 * Two groups may be in flight, the second only once enough readings wait
 * for it ({@linkcode SECOND_GROUP_READINGS}).
 *
 * A group's readings are sorted by identity and repeats within it dropped
 * (the first batch holding a reading stores it), then stored by COPY; when
 * one of them is already in the database (resent by a gateway, stored by
 * another instance) COPY fails as a whole and the group goes again through
 * `INSERT … ON CONFLICT DO NOTHING`, as do the next groups for a while, so
 * a stream of resends does not pay twice for each group
 * (postgres_insert.ts). Sorting makes every transaction take the key locks
 * in the same order, so two instances storing overlapping batches wait for
 * each other instead of deadlocking (a deadlock that happens anyway is
 * retried). Why COPY: docs/postgres.md.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Sql } from "./postgres_schema.ts";
import type { WriteResult } from "./storage.ts";
import { deleteDefaultBefore, dropPartitionsBefore, weekStart } from "./postgres_partitions.ts";
import { copyRows, isUniqueViolation, upsertRows } from "./postgres_insert.ts";
import {
  type CommitInfo,
  commitInfo,
  type Pending,
  takeGroup,
  type Writer,
  type WriterOptions,
} from "./writer.ts";

/** Groups in flight at once: the next is sent while the previous waits for its WAL flush. */
const CONCURRENCY = 2;
/**
 * Readings that must be queued for a second group to start while one is in
 * flight; fewer wait for it to commit and go in the next group. Each group
 * is a transaction (four round trips, a WAL flush, its COPY's setup), and
 * two COPYs at once insert into the same last index pages: taking every
 * request as it came made most groups a single request.
 */
const SECOND_GROUP_READINGS = 5_000;

/** Attempts of a group that hit a deadlock or a serialization failure. */
const ATTEMPTS = 5;
/** Groups that go through `ON CONFLICT` after one that met a reading already stored. */
const UPSERT_AFTER_CONFLICT = 16;

/** The PostgreSQL writer; see the module doc. */
export class PostgresWriter implements Writer {
  #sql: Sql;
  #queue: Pending[] = [];
  #running = 0;
  #idle = Promise.withResolvers<void>();
  #closed = false;
  #onCommit: ((info: CommitInfo) => void) | undefined;
  /** Groups still to store with `ON CONFLICT` rather than COPY. */
  #upserts = 0;

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
   * Retention by whole weeks (postgres_partitions.ts): drops the
   * partitions that end before the start of `cutoff`'s week, then deletes
   * up to `limit` older readings of the default partition. Nothing newer
   * goes, so the readings a partition still holds keep their summaries.
   */
  async deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }> {
    const week = weekStart(cutoff);
    const dropped = await dropPartitionsBefore(this.#sql, week);
    const deleted = await deleteDefaultBefore(this.#sql, week, limit);
    return { deleted: dropped + deleted, done: deleted < limit };
  }

  async close(): Promise<void> {
    this.#closed = true;
    while (this.#queue.length > 0 || this.#running > 0) await this.#idle.promise;
  }

  #pump(): void {
    while (this.#running < CONCURRENCY && this.#queue.length > 0) {
      if (this.#running > 0 && this.#queuedReadings() < SECOND_GROUP_READINGS) break;
      const group = takeGroup(this.#queue, (pending) => pending.readings.length);
      if (this.#running++ === 0) this.#idle = Promise.withResolvers<void>();
      this.#commit(group).finally(() => {
        if (--this.#running === 0 && this.#queue.length === 0) this.#idle.resolve();
        this.#pump();
      });
    }
  }

  #queuedReadings(): number {
    let readings = 0;
    for (const pending of this.#queue) readings += pending.readings.length;
    return readings;
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

  /** Stores the batches in one transaction; per batch, how many were new. */
  async #insert(batches: readonly (readonly Reading[])[]): Promise<WriteResult[]> {
    const { rows, batchOf } = uniqueRows(batches);
    for (let attempt = 1;; attempt++) {
      try {
        const stored = await this.#store(rows, batchOf, batches.length);
        return batches.map((batch, i) => ({
          stored: stored[i]!,
          duplicates: batch.length - stored[i]!,
        }));
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= ATTEMPTS || (code !== "40P01" && code !== "40001")) throw error;
      }
    }
  }

  async #store(rows: Reading[], batchOf: number[], batches: number): Promise<number[]> {
    if (this.#upserts === 0) {
      try {
        await copyRows(this.#sql, rows);
        const stored = new Array<number>(batches).fill(0);
        for (const batch of batchOf) stored[batch]!++;
        return stored;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
        this.#upserts = UPSERT_AFTER_CONFLICT;
      }
    }
    this.#upserts = Math.max(0, this.#upserts - 1);
    return await upsertRows(this.#sql, rows, batchOf, batches);
  }
}

/**
 * The readings of `batches` in identity order, each once (the first batch
 * holding it has it), with the batch of each.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { uniqueRows } from "./postgres_writer.ts";
 * const at = (sensorId: number, seq: number) =>
 *   ({ sensorId, seq, timestamp: seq * 1000, temperature: 1, pressure: null, humidity: null });
 * const { rows, batchOf } = uniqueRows([[at(2, 1), at(1, 1), at(2, 1)], [at(1, 1), at(1, 2)]]);
 * assert.deepEqual(rows.map((r) => `${r.sensorId}/${r.seq}`), ["1/1", "1/2", "2/1"]);
 * assert.deepEqual(batchOf, [0, 1, 0]); // 1/1 is batch 0's; 1/2 only batch 1 has
 * ```
 */
export function uniqueRows(
  batches: readonly (readonly Reading[])[],
): { rows: Reading[]; batchOf: number[] } {
  const all: { reading: Reading; batch: number }[] = [];
  batches.forEach((batch, index) => {
    for (const reading of batch) all.push({ reading, batch: index });
  });
  all.sort((a, b) =>
    a.reading.sensorId - b.reading.sensorId || a.reading.timestamp - b.reading.timestamp ||
    a.reading.seq - b.reading.seq || a.batch - b.batch
  );
  const rows: Reading[] = [];
  const batchOf: number[] = [];
  let last: Reading | undefined;
  for (const { reading, batch } of all) {
    if (
      last !== undefined && last.sensorId === reading.sensorId &&
      last.timestamp === reading.timestamp && last.seq === reading.seq
    ) continue;
    rows.push(reading);
    batchOf.push(batch);
    last = reading;
  }
  return { rows, batchOf };
}
