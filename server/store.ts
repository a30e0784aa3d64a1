/**
 * The server's reading store: one SQLite file through `node:sqlite`, schema
 * and pragmas in {@link ./schema.ts}.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { openStore } from "./store.ts";
 *
 * using store = openStore(":memory:");
 * const reading = { sensorId: 7, seq: 1, timestamp: 0, temperature: 2150, pressure: 101325, humidity: 4510 };
 * assert.deepEqual(store.write([[reading, reading]]), [{ stored: 1, duplicates: 1 }]);
 * assert.equal(store.latest({ limit: 10 }).length, 1);
 * ```
 *
 * All methods are synchronous: SQLite runs in this thread, statements are
 * prepared once, and a call holds no transaction open across an `await`.
 *
 * @module
 */

import { mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Reading } from "../protocol/mod.ts";
import { migrate, PRAGMAS, ROLLUP_WIDTHS } from "./schema.ts";
import { type Aggregate, bucketStart, Summary } from "./summary.ts";

/** A reading with the cursor the store gave it (its place in storage order). */
export interface StoredReading extends Reading {
  readonly cursor: number;
}

/** What {@linkcode Store.write} did with one batch. */
export interface WriteResult {
  readonly stored: number;
  readonly duplicates: number;
}

/** Filters of the reading queries; times in epoch ms, `until` exclusive. */
export interface ReadingFilter {
  readonly limit: number;
  readonly sensor?: number | undefined;
  readonly since?: number | undefined;
  readonly until?: number | undefined;
}

/** One page of readings in storage order, from {@linkcode Store.after}. */
export interface CursorPage {
  readonly readings: StoredReading[];
  /** The cursor to continue from: see docs/http-api.md. */
  readonly cursor: number;
}

/** A sensor as `/api/sensors` lists it. */
export interface SensorInfo {
  readonly id: number;
  readonly readings: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly last: Reading | undefined;
}

/** One aggregated row of a series query: a sensor's bucket starting at `t`. */
export interface SeriesRow extends Aggregate {
  readonly sensorId: number;
  readonly t: number;
}

// Beyond any timestamp a reading can carry (TIMESTAMP_LIMIT is 8.64e15).
const TIME_MIN = -9_000_000_000_000_000;
const TIME_MAX = 9_000_000_000_000_000;

const READING_COLUMNS = "sensor_id AS sensorId, seq, timestamp, temperature, pressure, humidity";

const AGGREGATE_OF_READINGS = `count(*) AS count,
  min(temperature) AS temperatureMin, max(temperature) AS temperatureMax, sum(temperature) AS temperatureSum,
  min(pressure) AS pressureMin, max(pressure) AS pressureMax, sum(pressure) AS pressureSum,
  min(humidity) AS humidityMin, max(humidity) AS humidityMax, sum(humidity) AS humiditySum`;

const AGGREGATE_OF_ROLLUPS = `sum(count) AS count,
  min(temperature_min) AS temperatureMin, max(temperature_max) AS temperatureMax, sum(temperature_sum) AS temperatureSum,
  min(pressure_min) AS pressureMin, max(pressure_max) AS pressureMax, sum(pressure_sum) AS pressureSum,
  min(humidity_min) AS humidityMin, max(humidity_max) AS humidityMax, sum(humidity_sum) AS humiditySum`;

/**
 * Opens (creating if needed) the store at `path`, or an in-memory store for
 * `":memory:"`. Creates the parent directory, sets the pragmas, migrates the
 * schema and prepares every statement.
 */
export function openStore(path: string): Store {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(PRAGMAS);
    migrate(db, path);
    return new Store(db, path);
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Runs one multi-row `INSERT` in chunks of 100, 10 and 1 rows: one call
 * binds many rows, which is most of the cost of a batch through `node:sqlite`.
 */
class MultiRowInsert<T> {
  static readonly #SIZES = [100, 10, 1] as const;
  #db: DatabaseSync;
  #sql: (values: string) => string;
  #columns: number;
  #fill: (params: SQLInputValue[], offset: number, row: T) => void;
  #statements = new Map<number, StatementSync>();

  constructor(
    db: DatabaseSync,
    columns: number,
    sql: (values: string) => string,
    fill: (params: SQLInputValue[], offset: number, row: T) => void,
  ) {
    this.#db = db;
    this.#columns = columns;
    this.#sql = sql;
    this.#fill = fill;
  }

  /** Inserts `rows` and returns the changes; `onChunk` sees each chunk's result. */
  run(rows: readonly T[], onChunk?: (changes: number, lastInsertRowid: number) => void): number {
    let changes = 0;
    let index = 0;
    for (const size of MultiRowInsert.#SIZES) {
      const statement = this.#statement(size);
      const params: SQLInputValue[] = new Array(size * this.#columns);
      while (rows.length - index >= size) {
        for (let row = 0; row < size; row++) {
          this.#fill(params, row * this.#columns, rows[index + row]!);
        }
        index += size;
        const result = statement.run(...params);
        const chunkChanges = Number(result.changes);
        changes += chunkChanges;
        onChunk?.(chunkChanges, Number(result.lastInsertRowid));
      }
    }
    return changes;
  }

  #statement(size: number): StatementSync {
    let statement = this.#statements.get(size);
    if (statement === undefined) {
      const placeholders = `(${new Array(this.#columns).fill("?").join(",")})`;
      statement = this.#db.prepare(this.#sql(new Array(size).fill(placeholders).join(",")));
      this.#statements.set(size, statement);
    }
    return statement;
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
  #cursor: number;
  #insertReadings: MultiRowInsert<Reading>;
  #upsertSensors: MultiRowInsert<
    [number, { readings: number; firstSeen: number; lastSeen: number }]
  >;
  #upsertRollups: MultiRowInsert<
    { width: number; bucket: number; sensorId: number; aggregate: Aggregate }
  >;
  #statements: ReturnType<typeof prepareStatements>;

  /** Use {@linkcode openStore}. */
  constructor(db: DatabaseSync, location: string) {
    this.#db = db;
    this.location = location;
    this.#statements = prepareStatements(db);
    this.#cursor = this.newestCursor();
    this.#insertReadings = new MultiRowInsert(
      db,
      6,
      (values) =>
        `INSERT INTO readings (sensor_id, seq, timestamp, temperature, pressure, humidity)
         VALUES ${values} ON CONFLICT DO NOTHING`,
      (params, at, reading) => {
        params[at] = reading.sensorId;
        params[at + 1] = reading.seq;
        params[at + 2] = reading.timestamp;
        params[at + 3] = reading.temperature;
        params[at + 4] = reading.pressure;
        params[at + 5] = reading.humidity;
      },
    );
    this.#upsertSensors = new MultiRowInsert(
      db,
      4,
      (values) =>
        `INSERT INTO sensors (sensor_id, readings, first_seen, last_seen) VALUES ${values}
         ON CONFLICT (sensor_id) DO UPDATE SET readings = readings + excluded.readings,
           first_seen = min(first_seen, excluded.first_seen),
           last_seen = max(last_seen, excluded.last_seen)`,
      (params, at, [sensorId, delta]) => {
        params[at] = sensorId;
        params[at + 1] = delta.readings;
        params[at + 2] = delta.firstSeen;
        params[at + 3] = delta.lastSeen;
      },
    );
    this.#upsertRollups = new MultiRowInsert(
      db,
      13,
      (values) =>
        `INSERT INTO rollups (width, bucket, sensor_id, count,
           temperature_min, temperature_max, temperature_sum,
           pressure_min, pressure_max, pressure_sum,
           humidity_min, humidity_max, humidity_sum) VALUES ${values}
         ON CONFLICT (width, bucket, sensor_id) DO UPDATE SET count = count + excluded.count,
           temperature_min = min(temperature_min, excluded.temperature_min),
           temperature_max = max(temperature_max, excluded.temperature_max),
           temperature_sum = temperature_sum + excluded.temperature_sum,
           pressure_min = min(pressure_min, excluded.pressure_min),
           pressure_max = max(pressure_max, excluded.pressure_max),
           pressure_sum = pressure_sum + excluded.pressure_sum,
           humidity_min = min(humidity_min, excluded.humidity_min),
           humidity_max = max(humidity_max, excluded.humidity_max),
           humidity_sum = humidity_sum + excluded.humidity_sum`,
      (params, at, { width, bucket, sensorId, aggregate: a }) => {
        params[at] = width;
        params[at + 1] = bucket;
        params[at + 2] = sensorId;
        params[at + 3] = a.count;
        params[at + 4] = a.temperatureMin;
        params[at + 5] = a.temperatureMax;
        params[at + 6] = a.temperatureSum;
        params[at + 7] = a.pressureMin;
        params[at + 8] = a.pressureMax;
        params[at + 9] = a.pressureSum;
        params[at + 10] = a.humidityMin;
        params[at + 11] = a.humidityMax;
        params[at + 12] = a.humiditySum;
      },
    );
  }

  /**
   * Stores several batches in one transaction (one fsync for all) and
   * returns, per batch, how many readings were new and how many were already
   * stored. Readings must be valid (see `parseReadingJson`). If anything
   * fails, nothing is stored and the error is thrown.
   */
  write(batches: readonly (readonly Reading[])[]): WriteResult[] {
    const results: WriteResult[] = [];
    const summary = new Summary();
    const cursorBefore = this.#cursor;
    const s = this.#statements;
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
          for (const reading of s.readBack.iterate(before) as Iterable<Reading>) {
            summary.add(reading);
          }
        }
        results.push({ stored, duplicates: sorted.length - stored });
      }
      this.#upsertSensors.run([...summary.sensors]);
      this.#upsertRollups.run(summary.rollups());
      s.commit.run();
    } catch (error) {
      this.#cursor = cursorBefore;
      if (this.#db.isTransaction) s.rollback.run();
      throw error;
    }
    return results;
  }

  /** The cursor of the newest reading ever stored (0 for none). */
  newestCursor(): number {
    const row = this.#statements.newestCursor.get() as { seq: number } | undefined;
    return row?.seq ?? 0;
  }

  /** Readings matching `filter`, newest timestamp first (ties: highest seq, then newest stored). */
  latest(filter: ReadingFilter): Reading[] {
    const s = this.#statements;
    const since = filter.since ?? TIME_MIN;
    const until = filter.until ?? TIME_MAX;
    return (filter.sensor === undefined
      ? s.latest.all(since, until, filter.limit)
      : s.latestOfSensor.all(filter.sensor, since, until, filter.limit)) as unknown as Reading[];
  }

  /**
   * Readings stored after `cursor` that match `filter`, in storage order.
   * The returned cursor is the last reading's when the page is full, else
   * the newest stored (every match up to it has been returned).
   */
  after(cursor: number, filter: ReadingFilter): CursorPage {
    return this.#read(() => {
      const s = this.#statements;
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
      const s = this.#statements;
      const rows = s.sensors.all() as unknown as Omit<SensorInfo, "last">[];
      return rows.map((row) => ({
        ...row,
        last: s.lastOfSensor.get(row.id) as Reading | undefined,
      }));
    });
  }

  /**
   * Aggregates per sensor and bucket of `bucket` ms (aligned to the epoch)
   * over each segment, in one snapshot. A segment of `width` > 0 is read
   * from the rollups of that width (its bounds must be multiples of the
   * width, and the width must divide `bucket`); of width 0, from the raw
   * readings. A bucket split across segments comes back as several rows.
   */
  seriesRows(
    segments: readonly { width: number; from: number; to: number }[],
    options: { bucket: number; sensor?: number | undefined },
  ): SeriesRow[] {
    const s = this.#statements;
    const { bucket, sensor } = options;
    return this.#read(() =>
      segments.flatMap(({ width, from, to }) => {
        const rows = width === 0
          ? (sensor === undefined
            ? s.seriesRaw.all(bucket, from, to)
            : s.seriesRawOfSensor.all(bucket, from, to, sensor))
          : (sensor === undefined
            ? s.seriesRollup.all(bucket, width, from, to)
            : s.seriesRollupOfSensor.all(bucket, width, from, to, sensor));
        return rows as unknown as SeriesRow[];
      })
    );
  }

  /**
   * Deletes up to `limit` readings with a timestamp before `cutoff` (rounded
   * down to the hour, so whole rollup buckets go with them), with their
   * rollups and sensor counts, in one transaction. Returns how many readings
   * it deleted and whether more is left (call again until `done`).
   */
  deleteBefore(cutoff: number, limit: number): { deleted: number; done: boolean } {
    const s = this.#statements;
    const aligned = bucketStart(cutoff, ROLLUP_WIDTHS[3]);
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
    this.#statements.check.get();
  }

  /** Bytes on disk: the database pages plus the write-ahead log. */
  sizeBytes(): number {
    const { pages } = this.#statements.pageCount.get() as { pages: number };
    const { size } = this.#statements.pageSize.get() as { size: number };
    let wal = 0;
    if (this.location !== ":memory:") {
      try {
        wal = statSync(`${this.location}-wal`).size;
      } catch { /* no WAL right now */ }
    }
    return pages * size + wal;
  }

  /** Closes the database (after letting SQLite refresh its query statistics). */
  close(): void {
    if (!this.#db.isOpen) return;
    try {
      this.#db.exec("PRAGMA optimize");
    } finally {
      this.#db.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // Several reads that must agree (a page and the newest cursor) share one
  // snapshot: a reader in WAL mode sees one commit for the whole transaction.
  #read<T>(body: () => T): T {
    if (this.#db.isTransaction) return body();
    this.#statements.beginRead.run();
    try {
      return body();
    } finally {
      this.#statements.commit.run();
    }
  }
}

function prepareStatements(db: DatabaseSync) {
  const seriesRaw = (sensorFilter: string) =>
    `SELECT sensor_id AS sensorId, timestamp - (((timestamp % ?1) + ?1) % ?1) AS t,
       ${AGGREGATE_OF_READINGS}
     FROM readings WHERE timestamp >= ?2 AND timestamp < ?3 ${sensorFilter}
     GROUP BY t, sensor_id`;
  const seriesRollup = (sensorFilter: string) =>
    `SELECT sensor_id AS sensorId, bucket - (((bucket % ?1) + ?1) % ?1) AS t,
       ${AGGREGATE_OF_ROLLUPS}
     FROM rollups WHERE width = ?2 AND bucket >= ?3 AND bucket < ?4 ${sensorFilter}
     GROUP BY t, sensor_id`;
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    beginRead: db.prepare("BEGIN DEFERRED"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    readBack: db.prepare(
      `SELECT ${READING_COLUMNS} FROM readings WHERE cursor > ? ORDER BY cursor`,
    ),
    newestCursor: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'readings'"),
    latest: db.prepare(
      `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_time
       WHERE timestamp >= ?1 AND timestamp < ?2
       ORDER BY timestamp DESC, seq DESC, cursor DESC LIMIT ?3`,
    ),
    latestOfSensor: db.prepare(
      `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_sensor
       WHERE sensor_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
       ORDER BY timestamp DESC, seq DESC LIMIT ?4`,
    ),
    // Unary `+` keeps the planner on the rowid range: storage order is the point.
    after: db.prepare(
      `SELECT cursor, ${READING_COLUMNS} FROM readings
       WHERE cursor > ?1 AND +timestamp >= ?2 AND +timestamp < ?3
       ORDER BY cursor LIMIT ?4`,
    ),
    afterOfSensor: db.prepare(
      `SELECT cursor, ${READING_COLUMNS} FROM readings
       WHERE cursor > ?1 AND +timestamp >= ?2 AND +timestamp < ?3 AND +sensor_id = ?5
       ORDER BY cursor LIMIT ?4`,
    ),
    sensors: db.prepare(
      `SELECT sensor_id AS id, readings, first_seen AS firstSeen, last_seen AS lastSeen
       FROM sensors ORDER BY sensor_id`,
    ),
    lastOfSensor: db.prepare(
      `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_sensor
       WHERE sensor_id = ? ORDER BY timestamp DESC, seq DESC LIMIT 1`,
    ),
    seriesRaw: db.prepare(seriesRaw("")),
    seriesRawOfSensor: db.prepare(seriesRaw("AND sensor_id = ?4")),
    seriesRollup: db.prepare(seriesRollup("")),
    seriesRollupOfSensor: db.prepare(seriesRollup("AND sensor_id = ?5")),
    doomedPerSensor: db.prepare(
      `SELECT sensor_id AS sensorId, count(*) AS n FROM (
         SELECT sensor_id FROM readings INDEXED BY readings_by_time
         WHERE timestamp < ?1 ORDER BY timestamp, seq LIMIT ?2)
       GROUP BY sensor_id`,
    ),
    deleteReadings: db.prepare(
      `DELETE FROM readings WHERE cursor IN (
         SELECT cursor FROM readings INDEXED BY readings_by_time
         WHERE timestamp < ?1 ORDER BY timestamp, seq LIMIT ?2)`,
    ),
    shrinkSensor: db.prepare(
      `UPDATE sensors SET readings = readings - ?2,
         first_seen = coalesce(
           (SELECT min(timestamp) FROM readings WHERE sensor_id = ?1), first_seen)
       WHERE sensor_id = ?1`,
    ),
    dropEmptySensor: db.prepare("DELETE FROM sensors WHERE sensor_id = ? AND readings <= 0"),
    deleteRollups: db.prepare(
      `DELETE FROM rollups WHERE (width, bucket, sensor_id) IN (
         SELECT width, bucket, sensor_id FROM rollups
         WHERE width = ?1 AND bucket < ?2 ORDER BY bucket LIMIT ?3)`,
    ),
    check: db.prepare("SELECT count(*) AS n FROM (SELECT 1 FROM sensors LIMIT 1)"),
    pageCount: db.prepare("SELECT page_count AS pages FROM pragma_page_count()"),
    pageSize: db.prepare("SELECT page_size AS size FROM pragma_page_size()"),
  };
}
