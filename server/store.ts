/**
 * The SQLite reading store: one file through `node:sqlite`. Schema and
 * pragmas are in {@link ./schema.ts}, the statements in {@link ./sql.ts};
 * sqlite_storage.ts puts it behind the storage interface (storage.ts).
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { openStore } from "./store.ts";
 *
 * using store = openStore(":memory:");
 * const reading = {
 *   sensorId: 7, seq: 1, timestamp: 0, temperature: 2150, pressure: 101325, humidity: 4510,
 * };
 * assert.deepEqual(store.write([[reading, reading]]), [{ stored: 1, duplicates: 1 }]);
 * assert.equal(store.latest({ limit: 10 }).length, 1);
 * ```
 *
 * Readings are committed by {@linkcode Store.write}; the per-sensor counts
 * and the rollups that summarise them are added later, by
 * {@linkcode Store.flushSummary}, in one transaction for many writes, which
 * keeps the hot write path to the readings alone. `meta.summarized_cursor`
 * records how far the summaries go: reads add the few readings stored after
 * it, and opening a store summarises whatever a crash left behind, so
 * answers are always exact.
 *
 * All methods are synchronous: SQLite runs in the calling thread, statements
 * are prepared once, and no call holds a transaction across an `await`.
 *
 * It runs past 300 lines because it is one class over one connection: the
 * writes, the reads and the summary bookkeeping share the prepared
 * statements and the summarised cursor, and split apart each would need the
 * others' internals.
 *
 * @module
 */

import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { Reading } from "../protocol/mod.ts";
import { COARSEST_WIDTH, migrate, PRAGMAS, ROLLUP_WIDTHS } from "./schema.ts";
import {
  insertReadings,
  type MultiRowInsert,
  prepareStatements,
  type Statements,
  upsertRollups,
  upsertSensors,
} from "./sql.ts";
import type {
  CursorPage,
  ReadingFilter,
  SensorInfo,
  SeriesRow,
  SeriesSegment,
  StoredReading,
  WriteResult,
} from "./storage.ts";
import {
  bucketStart,
  mergeSensorCounts,
  type SensorCount,
  type SensorDelta,
  seriesParts,
  Summary,
} from "./summary.ts";

/** Options of {@linkcode openStore}. */
export interface StoreOptions {
  /**
   * Overrides `synchronous=FULL` (see {@link ./schema.ts}). `NORMAL` is for
   * a writer that fsyncs the WAL itself (writer_worker.ts) and for bulk
   * loads; with `NORMAL` alone a commit can be lost on power failure.
   */
  readonly synchronous?: "FULL" | "NORMAL" | "OFF";
}

// Beyond any timestamp a reading can carry (TIMESTAMP_LIMIT is 8.64e15).
const TIME_MIN = -9_000_000_000_000_000;
const TIME_MAX = 9_000_000_000_000_000;
/** Readings per read-back when summarising after a crash. */
const RECOVERY_CHUNK = 50_000;

/**
 * Opens (creating if needed) the store at `path`, or an in-memory store for
 * `":memory:"`. Creates the parent directory, sets the pragmas, migrates the
 * schema, prepares every statement, and summarises readings a crash left
 * unsummarised.
 */
export function openStore(path: string, options: StoreOptions = {}): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(PRAGMAS);
    if (options.synchronous) db.exec(`PRAGMA synchronous = ${options.synchronous}`);
    migrate(db, path);
    const store = new Store(db, path);
    // Summaries a crash left behind (none after a clean close).
    store.flushSummary();
    return store;
  } catch (error) {
    if (db.isOpen) db.close();
    throw error;
  }
}

function byIdentity(a: Reading, b: Reading): number {
  return a.sensorId - b.sensorId || a.timestamp - b.timestamp || a.seq - b.seq;
}

/** The store. Create it with {@linkcode openStore}; close it when done. */
export class Store implements Disposable {
  /** The path it was opened with (`":memory:"` for an in-memory store). */
  readonly location: string;
  #db: DatabaseSync;
  #s: Statements;
  #insertReadings: MultiRowInsert<Reading>;
  #upsertSensors: MultiRowInsert<[number, SensorDelta]>;
  #upsertRollups: ReturnType<typeof upsertRollups>;
  /** Cursor of the last reading this connection stored. */
  #cursor: number;
  /** Summary of the readings committed since the last flush. */
  #pending = new Summary();

  /** Use {@linkcode openStore}. */
  constructor(db: DatabaseSync, location: string) {
    this.#db = db;
    this.location = location;
    this.#s = prepareStatements(db);
    this.#insertReadings = insertReadings(db);
    this.#upsertSensors = upsertSensors(db);
    this.#upsertRollups = upsertRollups(db);
    this.#cursor = this.newestCursor();
  }

  /**
   * Stores several batches in one transaction (one commit for all) and
   * returns, per batch, how many readings were new and how many were already
   * stored. Readings must be valid (see `parseReadingJson`). If anything
   * fails, nothing is stored and the error is thrown.
   */
  write(batches: readonly (readonly Reading[])[]): WriteResult[] {
    const results: WriteResult[] = [];
    const summary = new Summary();
    const cursorBefore = this.#cursor;
    const s = this.#s;
    s.begin.run();
    try {
      for (const batch of batches) {
        // Sorted by sensor and time, consecutive rows land on the same index
        // pages: a batch from 100 sensors touches 100 places, not 1,000.
        const sorted = batch.length > 1 ? [...batch].sort(byIdentity) : batch;
        const before = this.#cursor;
        const stored = this.#insertReadings.run(sorted, (changes, rowid) => {
          if (changes > 0) this.#cursor = rowid;
        });
        if (stored === sorted.length) {
          for (const reading of sorted) summary.add(reading);
        } else if (stored > 0) {
          // Some were duplicates: summarise exactly the rows this batch added.
          for (const reading of this.#readBack(before, sorted.length)) summary.add(reading);
        }
        results.push({ stored, duplicates: sorted.length - stored });
      }
      s.commit.run();
    } catch (error) {
      this.#cursor = cursorBefore;
      if (this.#db.isTransaction) s.rollback.run();
      throw error;
    }
    this.#pending.absorb(summary);
    return results;
  }

  /**
   * Adds the summaries of everything written since the last flush to the
   * `sensors` and `rollups` tables, in one transaction, and moves
   * `meta.summarized_cursor` past them. Cheap when called often; the writer
   * calls it a few times per second. Exact even if another connection wrote
   * meanwhile: when the unsummarised readings are not exactly this
   * connection's, they are read back and summarised from the database.
   */
  flushSummary(): void {
    const s = this.#s;
    s.begin.run();
    try {
      const from = this.#summarizedCursor();
      const { n: unsummarized } = s.countTail.get(from) as { n: number };
      let pending = this.#pending;
      let upTo = this.#cursor;
      if (unsummarized !== pending.readings) {
        pending = new Summary();
        upTo = from;
        let rows: StoredReading[];
        do {
          rows = this.#readBack(upTo, RECOVERY_CHUNK);
          for (const row of rows) pending.add(row);
          upTo = rows.at(-1)?.cursor ?? upTo;
        } while (rows.length === RECOVERY_CHUNK);
      }
      if (!pending.empty) {
        this.#upsertSensors.run([...pending.sensors]);
        this.#upsertRollups.run(pending.rollups());
        s.setSummarizedCursor.run(upTo);
      }
      s.commit.run();
    } catch (error) {
      if (this.#db.isTransaction) s.rollback.run();
      throw error;
    }
    this.#pending = new Summary();
  }

  /** The cursor of the newest reading ever stored (0 for none). */
  newestCursor(): number {
    const row = this.#s.newestCursor.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Readings matching `filter`, newest timestamp first (ties: highest seq, then newest stored). */
  latest(filter: ReadingFilter): Reading[] {
    const s = this.#s;
    const since = filter.since ?? TIME_MIN;
    const until = filter.until ?? TIME_MAX;
    return (filter.sensor === undefined
      ? s.latest.all(since, until, filter.limit)
      : s.latestOfSensor.all(filter.sensor, since, until, filter.limit)) as unknown as Reading[];
  }

  /**
   * {@linkcode Store.latest} with the newest cursor of the same snapshot, so
   * a client that follows from that cursor misses nothing and repeats nothing.
   */
  latestPage(filter: ReadingFilter): { readings: Reading[]; cursor: number } {
    return this.#read(() => ({ readings: this.latest(filter), cursor: this.newestCursor() }));
  }

  /**
   * Readings stored after `cursor` that match `filter`, in storage order.
   * The returned cursor is the last reading's when the page is full, else
   * the newest stored (every match up to it has been returned).
   */
  after(cursor: number, filter: ReadingFilter): CursorPage {
    return this.#read(() => {
      const s = this.#s;
      const since = filter.since ?? TIME_MIN;
      const until = filter.until ?? TIME_MAX;
      const readings = (filter.sensor === undefined
        ? s.after.all(cursor, since, until, filter.limit)
        : s.afterOfSensor.all(
          cursor,
          since,
          until,
          filter.limit,
          filter.sensor,
        )) as unknown as StoredReading[];
      const next = readings.length === filter.limit
        ? readings[readings.length - 1]!.cursor
        : this.newestCursor();
      return { readings, cursor: next };
    });
  }

  /** Every sensor with stored readings, by id, with its newest reading. */
  sensors(): SensorInfo[] {
    return this.#read(() => {
      const s = this.#s;
      const counts = mergeSensorCounts(
        s.sensors.all() as unknown as SensorCount[],
        s.sensorsTail.all(this.#summarizedCursor()) as unknown as SensorCount[],
      );
      return counts.map((row) => ({
        ...row,
        last: s.lastOfSensor.get(row.id) as Reading | undefined,
      }));
    });
  }

  /**
   * Aggregates per sensor and bucket of `bucket` ms (aligned to the epoch)
   * over each segment, in one snapshot. A segment of `width` > 0 is read
   * from the rollups of that width (its bounds must be multiples of the
   * width, and the width must divide `bucket`) plus the readings stored
   * since the last summary; of width 0, from the raw readings. A bucket
   * split across segments comes back as several rows, to be added up.
   */
  seriesRows(
    segments: readonly SeriesSegment[],
    options: { bucket: number; sensor?: number | undefined },
  ): SeriesRow[] {
    const s = this.#s;
    const { bucket, sensor } = options;
    return this.#read(() => {
      // Arrays of rows, concatenated once: a day of buckets is too many
      // rows to spread into push() arguments.
      const parts = seriesParts(segments).map((part) => {
        const { from, to } = part;
        if (part.kind === "raw") {
          return sensor === undefined
            ? s.seriesRaw.all(bucket, from, to)
            : s.seriesRawOfSensor.all(bucket, from, to, sensor);
        }
        if (part.kind === "tail") {
          const tail = this.#summarizedCursor();
          return sensor === undefined
            ? s.seriesTail.all(bucket, from, to, tail)
            : s.seriesTailOfSensor.all(bucket, from, to, tail, sensor);
        }
        const direct = part.width === bucket;
        return sensor === undefined
          ? (direct ? s.seriesRollupDirect : s.seriesRollup).all(bucket, from, to, part.width)
          : (direct ? s.seriesRollupDirectOfSensor : s.seriesRollupOfSensor)
            .all(bucket, from, to, part.width, sensor);
      });
      const rows = ([] as unknown[]).concat(...parts);
      return rows as SeriesRow[];
    });
  }

  /**
   * Deletes up to `limit` readings with a timestamp before `cutoff` (rounded
   * down to the hour, so whole rollup buckets go with them), with their
   * rollups and sensor counts, in one transaction. Returns how many readings
   * it deleted and whether more is left (call again until `done`).
   */
  deleteBefore(cutoff: number, limit: number): { deleted: number; done: boolean } {
    // Counts are subtracted from summaries: everything must be summarised first.
    this.flushSummary();
    const s = this.#s;
    const aligned = bucketStart(cutoff, COARSEST_WIDTH);
    s.begin.run();
    try {
      const perSensor = s.doomedPerSensor.all(aligned, limit) as { sensorId: number; n: number }[];
      const deleted = Number(s.deleteReadings.run(aligned, limit).changes);
      for (const { sensorId, n } of perSensor) {
        s.shrinkSensor.run(sensorId, n);
        s.dropEmptySensor.run(sensorId);
      }
      let done = deleted < limit;
      for (const width of ROLLUP_WIDTHS) {
        if (Number(s.deleteRollups.run(width, aligned, limit).changes) === limit) done = false;
      }
      s.commit.run();
      return { deleted, done };
    } catch (error) {
      if (this.#db.isTransaction) s.rollback.run();
      throw error;
    }
  }

  /** Throws if the database cannot answer a query. */
  check(): void {
    this.#s.check.get();
  }

  /** Bytes on disk: the database pages plus the write-ahead log. */
  sizeBytes(): number {
    const { pages } = this.#s.pageCount.get() as { pages: number };
    const { size } = this.#s.pageSize.get() as { size: number };
    let wal = 0;
    if (this.location !== ":memory:") {
      try {
        wal = statSync(`${this.location}-wal`).size;
      } catch { /* no WAL right now */ }
    }
    return pages * size + wal;
  }

  /** Flushes pending summaries and closes the database. */
  close(): void {
    if (!this.#db.isOpen) return;
    try {
      this.flushSummary();
      this.#db.exec("PRAGMA optimize");
    } finally {
      this.#db.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #summarizedCursor(): number {
    return (this.#s.summarizedCursor.get() as { value: number }).value;
  }

  #readBack(after: number, limit: number): StoredReading[] {
    return this.#s.readBack.all(after, limit) as unknown as StoredReading[];
  }

  // Several reads that must agree (a page and the newest cursor) share one
  // snapshot: a reader in WAL mode sees one commit for the whole transaction.
  #read<T>(body: () => T): T {
    if (this.#db.isTransaction) return body();
    this.#s.beginRead.run();
    try {
      return body();
    } finally {
      this.#s.commit.run();
    }
  }
}
