/**
 * The store's SQL: every statement, prepared once per connection, and the
 * multi-row inserts that carry batches through `node:sqlite` cheaply.
 * The schema they run against is in {@link ./schema.ts}.
 *
 * @module
 */

import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { QUANTITIES, type Reading } from "../protocol/mod.ts";
import type { Aggregate, SensorDelta } from "./summary.ts";

/**
 * Runs one multi-row `INSERT` in chunks of 500, 50, 5 and 1 rows: one call
 * binds many rows, and the per-call cost is most of what a batch costs
 * through `node:sqlite`, so the largest chunk is as large as stays well
 * within SQLite's 32,766 bound values (500 rows of 16 columns bind 8,000).
 */
export class MultiRowInsert<T> {
  static readonly #SIZES = [500, 50, 5, 1] as const;
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
      if (rows.length - index < size) continue;
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

/** `INSERT ... ON CONFLICT DO NOTHING`: a reading already stored is skipped, not an error. */
export function insertReadings(db: DatabaseSync): MultiRowInsert<Reading> {
  return new MultiRowInsert(
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
}

/** Adds per-sensor counts and time spans to `sensors`. */
export function upsertSensors(db: DatabaseSync): MultiRowInsert<[number, SensorDelta]> {
  return new MultiRowInsert(
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
}

/** SQL's min or max of a stored and an incoming value, either of which may be NULL. */
function either(fn: "min" | "max", column: string): string {
  return `${column} = coalesce(${fn}(${column}, excluded.${column}), ${column}, excluded.${column})`;
}

/** `Infinity` and `-Infinity` (no value, see `Aggregate`) as SQL NULL. */
function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Adds aggregates to `rollups`, merging with a bucket already there. */
export function upsertRollups(
  db: DatabaseSync,
): MultiRowInsert<{ width: number; bucket: number; sensorId: number; aggregate: Aggregate }> {
  return new MultiRowInsert(
    db,
    16,
    (values) =>
      `INSERT INTO rollups (width, bucket, sensor_id, count,
         temperature_count, temperature_min, temperature_max, temperature_sum,
         pressure_count, pressure_min, pressure_max, pressure_sum,
         humidity_count, humidity_min, humidity_max, humidity_sum) VALUES ${values}
       ON CONFLICT (width, bucket, sensor_id) DO UPDATE SET count = count + excluded.count,
         ${
        QUANTITIES.map((q) =>
          `${q}_count = ${q}_count + excluded.${q}_count, ${either("min", `${q}_min`)}, ${
            either("max", `${q}_max`)
          }, ${q}_sum = ${q}_sum + excluded.${q}_sum`
        ).join(",\n         ")
      }`,
    (params, at, { width, bucket, sensorId, aggregate: a }) => {
      params[at] = width;
      params[at + 1] = bucket;
      params[at + 2] = sensorId;
      params[at + 3] = a.count;
      params[at + 4] = a.temperatureCount;
      params[at + 5] = finiteOrNull(a.temperatureMin);
      params[at + 6] = finiteOrNull(a.temperatureMax);
      params[at + 7] = a.temperatureSum;
      params[at + 8] = a.pressureCount;
      params[at + 9] = finiteOrNull(a.pressureMin);
      params[at + 10] = finiteOrNull(a.pressureMax);
      params[at + 11] = a.pressureSum;
      params[at + 12] = a.humidityCount;
      params[at + 13] = finiteOrNull(a.humidityMin);
      params[at + 14] = finiteOrNull(a.humidityMax);
      params[at + 15] = a.humiditySum;
    },
  );
}

const READING_COLUMNS = "sensor_id AS sensorId, seq, timestamp, temperature, pressure, humidity";

// Per quantity: count, min, max, sum of the values present (NULLs ignored;
// min and max NULL when there is none, the sum 0).
const AGGREGATE_OF_READINGS = `count(*) AS count, ${
  QUANTITIES.map((q) => `count(${q}), min(${q}), max(${q}), coalesce(sum(${q}), 0)`).join(", ")
}`;

const AGGREGATE_OF_ROLLUPS = `sum(count) AS count, ${
  QUANTITIES.map((q) => `sum(${q}_count), min(${q}_min), max(${q}_max), sum(${q}_sum)`).join(", ")
}`;

/** Start of the `?1`-ms bucket of a column, aligned to the epoch, also below zero. */
function bucketOf(column: string): string {
  return `${column} - (((${column} % ?1) + ?1) % ?1)`;
}

function seriesRaw(sensorFilter: string): string {
  return `SELECT sensor_id AS sensorId, ${bucketOf("timestamp")} AS t, ${AGGREGATE_OF_READINGS}
     FROM readings WHERE timestamp >= ?2 AND timestamp < ?3 ${sensorFilter}
     GROUP BY t, sensor_id`;
}

function seriesRollup(sensorFilter: string): string {
  return `SELECT sensor_id AS sensorId, ${bucketOf("bucket")} AS t, ${AGGREGATE_OF_ROLLUPS}
     FROM rollups WHERE width = ?4 AND bucket >= ?2 AND bucket < ?3 ${sensorFilter}
     GROUP BY t, sensor_id`;
}

// When the bucket is the rollup width, every row is a bucket: no grouping.
function seriesRollupDirect(sensorFilter: string): string {
  return `SELECT sensor_id, bucket, count,
       temperature_count, temperature_min, temperature_max, temperature_sum,
       pressure_count, pressure_min, pressure_max, pressure_sum,
       humidity_count, humidity_min, humidity_max, humidity_sum
     FROM rollups WHERE width = ?4 AND bucket >= ?2 AND bucket < ?3 ${sensorFilter}`;
}

// Readings stored after the summarised cursor, not yet in the rollups.
// NOT INDEXED keeps the planner on the rowid range (the tail is short).
function seriesTail(sensorFilter: string): string {
  return `SELECT sensor_id AS sensorId, ${bucketOf("timestamp")} AS t, ${AGGREGATE_OF_READINGS}
     FROM readings NOT INDEXED
     WHERE cursor > ?4 AND timestamp >= ?2 AND timestamp < ?3 ${sensorFilter}
     GROUP BY t, sensor_id`;
}

/** Every read, retention and housekeeping statement, by name. */
const SQL = {
  begin: "BEGIN IMMEDIATE",
  beginRead: "BEGIN DEFERRED",
  commit: "COMMIT",
  rollback: "ROLLBACK",
  readBack: `SELECT cursor, ${READING_COLUMNS} FROM readings NOT INDEXED
     WHERE cursor > ?1 ORDER BY cursor LIMIT ?2`,
  newestCursor: "SELECT seq FROM sqlite_sequence WHERE name = 'readings'",
  summarizedCursor: "SELECT value FROM meta WHERE key = 'summarized_cursor'",
  countTail: "SELECT count(*) AS n FROM readings NOT INDEXED WHERE cursor > ?",
  setSummarizedCursor: "UPDATE meta SET value = ? WHERE key = 'summarized_cursor'",
  latest: `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_time
       WHERE timestamp >= ?1 AND timestamp < ?2
       ORDER BY timestamp DESC, seq DESC, cursor DESC LIMIT ?3`,
  latestOfSensor: `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_sensor
       WHERE sensor_id = ?1 AND timestamp >= ?2 AND timestamp < ?3
       ORDER BY timestamp DESC, seq DESC LIMIT ?4`,
  // NOT INDEXED keeps the planner on the rowid range: storage order is the
  // point, and an index would be chosen to avoid a sort, scanning everything.
  after: `SELECT cursor, ${READING_COLUMNS} FROM readings NOT INDEXED
       WHERE cursor > ?1 AND timestamp >= ?2 AND timestamp < ?3
       ORDER BY cursor LIMIT ?4`,
  afterOfSensor: `SELECT cursor, ${READING_COLUMNS} FROM readings NOT INDEXED
       WHERE cursor > ?1 AND timestamp >= ?2 AND timestamp < ?3 AND sensor_id = ?5
       ORDER BY cursor LIMIT ?4`,
  sensors: `SELECT sensor_id AS id, readings, first_seen AS firstSeen, last_seen AS lastSeen
       FROM sensors ORDER BY sensor_id`,
  sensorsTail: `SELECT sensor_id AS id, count(*) AS readings, min(timestamp) AS firstSeen,
         max(timestamp) AS lastSeen
       FROM readings NOT INDEXED WHERE cursor > ? GROUP BY sensor_id`,
  lastOfSensor: `SELECT ${READING_COLUMNS} FROM readings INDEXED BY readings_by_sensor
       WHERE sensor_id = ? ORDER BY timestamp DESC, seq DESC LIMIT 1`,
  seriesRaw: seriesRaw(""),
  seriesRawOfSensor: seriesRaw("AND sensor_id = ?4"),
  seriesRollup: seriesRollup(""),
  seriesRollupOfSensor: seriesRollup("AND sensor_id = ?5"),
  seriesRollupDirect: seriesRollupDirect(""),
  seriesRollupDirectOfSensor: seriesRollupDirect("AND sensor_id = ?5"),
  seriesTail: seriesTail(""),
  seriesTailOfSensor: seriesTail("AND sensor_id = ?5"),
  doomedPerSensor: `SELECT sensor_id AS sensorId, count(*) AS n FROM (
         SELECT sensor_id FROM readings INDEXED BY readings_by_time
         WHERE timestamp < ?1 ORDER BY timestamp, seq LIMIT ?2)
       GROUP BY sensor_id`,
  deleteReadings: `DELETE FROM readings WHERE cursor IN (
         SELECT cursor FROM readings INDEXED BY readings_by_time
         WHERE timestamp < ?1 ORDER BY timestamp, seq LIMIT ?2)`,
  shrinkSensor: `UPDATE sensors SET readings = readings - ?2,
         first_seen = coalesce(
           (SELECT min(timestamp) FROM readings WHERE sensor_id = ?1), first_seen)
       WHERE sensor_id = ?1`,
  dropEmptySensor: "DELETE FROM sensors WHERE sensor_id = ? AND readings <= 0",
  deleteRollups: `DELETE FROM rollups WHERE (width, bucket, sensor_id) IN (
         SELECT width, bucket, sensor_id FROM rollups
         WHERE width = ?1 AND bucket < ?2 ORDER BY bucket LIMIT ?3)`,
  check: "SELECT count(*) AS n FROM (SELECT 1 FROM sensors LIMIT 1)",
  pageCount: "SELECT page_count AS pages FROM pragma_page_count()",
  pageSize: "SELECT page_size AS size FROM pragma_page_size()",
} as const;

/** The prepared statements of one connection, by name. */
export type Statements = { readonly [Name in keyof typeof SQL]: StatementSync };

/**
 * Series statements answer rows as arrays (sensor, t, count, then count,
 * min, max and sum of each quantity): a day of buckets is tens of thousands of rows,
 * and arrays are much cheaper to build than objects.
 */
const ARRAY_STATEMENTS: ReadonlySet<string> = new Set(
  Object.keys(SQL).filter((name) => name.startsWith("series")),
);

type ArrayStatement = StatementSync & { setReturnArrays(enabled: boolean): void };

/** Prepares every statement of {@linkcode SQL} on `db`. */
export function prepareStatements(db: DatabaseSync): Statements {
  return Object.fromEntries(
    Object.entries(SQL).map(([name, sql]) => {
      const statement = db.prepare(sql);
      // In Deno's node:sqlite, not yet in its Node type definitions.
      if (ARRAY_STATEMENTS.has(name)) (statement as ArrayStatement).setReturnArrays(true);
      return [name, statement];
    }),
  ) as unknown as Statements;
}
