/**
 * The store's SQLite schema, its versions, and the connection pragmas.
 *
 * Readings are a time series written in batches and read as "the newest N",
 * "the newest N of one sensor", "everything stored after cursor C" and
 * "min/avg/max per bucket over a window". The schema serves exactly those:
 *
 * - `readings`: one row per reading, keyed by `cursor`, an AUTOINCREMENT
 *   rowid, so the storage order is the B-tree order (appends are cheap) and a
 *   cursor is never reused even after retention deletes the newest rows.
 *   Values are exact integer hundredths, NULL for a quantity the sensor
 *   does not measure (version 4), timestamps integer epoch ms.
 * - `readings_by_sensor` UNIQUE (sensor_id, timestamp, seq): the dedupe key
 *   (a set of columns is unique in any order; this order also serves "newest
 *   N of one sensor" and one sensor's time ranges as a single range scan).
 * - `readings_by_time` (timestamp, seq): "newest N" overall and time ranges;
 *   its implicit trailing rowid makes ties come out in storage order.
 * - `sensors`: per-sensor count and first/last timestamp, so
 *   `/api/sensors` never scans readings.
 * - `rollups`: the readings' count, and count/min/max/sum of each quantity
 *   (version 4: min/max NULL when no value), per sensor per bucket at five
 *   widths (10 s, 1 min, 5 min, 30 min, 1 h; version 3), so a chart of a day or a week reads
 *   thousands of rows, not millions. Keyed time-first: a window is one
 *   range scan and new buckets append.
 * - `meta.summarized_cursor` (version 2): the cursor up to which `sensors`
 *   and `rollups` include the readings. They are updated a few times per
 *   second for many commits at once (see store.ts), not in every write.
 *
 * Versions: `PRAGMA user_version` holds the schema version; {@linkcode migrate}
 * runs every step from the file's version to {@linkcode SCHEMA_VERSION} in one
 * transaction, so a later release adds a step and existing files follow.
 * A file from a newer release is refused rather than misread.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/**
 * Rollup bucket widths in ms, finest first; each divides the next. Chosen so
 * every default bucket of `/api/series` (series.ts) is one of them or a
 * small multiple: 10 s, 1 min, 5 min, 30 min, 1 h.
 */
export const ROLLUP_WIDTHS = [10_000, 60_000, 300_000, 1_800_000, 3_600_000] as const;
/** The coarsest rollup width: retention deletes whole buckets of it. */
export const COARSEST_WIDTH: number = ROLLUP_WIDTHS[ROLLUP_WIDTHS.length - 1]!;

/**
 * Migration steps: `MIGRATIONS[i]` takes a database from version `i` to
 * `i + 1`. Append only; never edit a released step.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE readings (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    temperature INTEGER NOT NULL,
    pressure INTEGER NOT NULL,
    humidity INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX readings_by_sensor ON readings (sensor_id, timestamp, seq);
  CREATE INDEX readings_by_time ON readings (timestamp, seq);

  CREATE TABLE sensors (
    sensor_id INTEGER PRIMARY KEY,
    readings INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE rollups (
    width INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    sensor_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    temperature_min INTEGER NOT NULL,
    temperature_max INTEGER NOT NULL,
    temperature_sum INTEGER NOT NULL,
    pressure_min INTEGER NOT NULL,
    pressure_max INTEGER NOT NULL,
    pressure_sum INTEGER NOT NULL,
    humidity_min INTEGER NOT NULL,
    humidity_max INTEGER NOT NULL,
    humidity_sum INTEGER NOT NULL,
    PRIMARY KEY (width, bucket, sensor_id)
  ) STRICT, WITHOUT ROWID;
  `,
  // Version 1 summarised in every write transaction: all of it is summarised.
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO meta (key, value) VALUES ('summarized_cursor',
    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'readings'), 0));
  `,
  // Rollup widths 10 s, 1 min, 10 min, 1 h became 10 s, 1 min, 5 min, 30 min,
  // 1 h (the defaults of /api/series): derive the new ones from 1 min.
  [300_000, 1_800_000].map((width) => `
  INSERT INTO rollups
  SELECT ${width}, bucket - (((bucket % ${width}) + ${width}) % ${width}) AS start, sensor_id,
    sum(count), min(temperature_min), max(temperature_max), sum(temperature_sum),
    min(pressure_min), max(pressure_max), sum(pressure_sum),
    min(humidity_min), max(humidity_max), sum(humidity_sum)
  FROM rollups WHERE width = 60000 GROUP BY start, sensor_id;
  `).join("") + "DELETE FROM rollups WHERE width = 600000;",
  // A quantity may be absent (NULL: not measured); at least one is present.
  // SQLite cannot drop NOT NULL in place: both tables are copied. The
  // readings' AUTOINCREMENT sequence is carried over, so no cursor is ever
  // reused. Rollups gain a count per quantity (an average divides by the
  // values present) and min/max become NULL for a bucket without a value.
  `
  CREATE TABLE readings_v4 (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    sensor_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    temperature INTEGER,
    pressure INTEGER,
    humidity INTEGER,
    CHECK (temperature IS NOT NULL OR pressure IS NOT NULL OR humidity IS NOT NULL)
  ) STRICT;
  INSERT INTO readings_v4 SELECT cursor, sensor_id, seq, timestamp, temperature, pressure, humidity
    FROM readings ORDER BY cursor;
  DELETE FROM sqlite_sequence WHERE name = 'readings_v4';
  INSERT INTO sqlite_sequence (name, seq)
    SELECT 'readings_v4', seq FROM sqlite_sequence WHERE name = 'readings';
  DROP TABLE readings;
  ALTER TABLE readings_v4 RENAME TO readings;
  CREATE UNIQUE INDEX readings_by_sensor ON readings (sensor_id, timestamp, seq);
  CREATE INDEX readings_by_time ON readings (timestamp, seq);

  CREATE TABLE rollups_v4 (
    width INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    sensor_id INTEGER NOT NULL,
    count INTEGER NOT NULL,
    temperature_count INTEGER NOT NULL,
    temperature_min INTEGER,
    temperature_max INTEGER,
    temperature_sum INTEGER NOT NULL,
    pressure_count INTEGER NOT NULL,
    pressure_min INTEGER,
    pressure_max INTEGER,
    pressure_sum INTEGER NOT NULL,
    humidity_count INTEGER NOT NULL,
    humidity_min INTEGER,
    humidity_max INTEGER,
    humidity_sum INTEGER NOT NULL,
    PRIMARY KEY (width, bucket, sensor_id)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO rollups_v4 SELECT width, bucket, sensor_id, count,
    count, temperature_min, temperature_max, temperature_sum,
    count, pressure_min, pressure_max, pressure_sum,
    count, humidity_min, humidity_max, humidity_sum
  FROM rollups;
  DROP TABLE rollups;
  ALTER TABLE rollups_v4 RENAME TO rollups;
  `,
];

/** The schema version this release writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Connection pragmas, set on every open:
 *
 * - `journal_mode=WAL`: readers never block the writer and a commit is one
 *   sequential append to the log instead of rewriting pages in place.
 * - `synchronous=FULL`: every commit fsyncs the WAL. The gateway deletes a
 *   reading from its spool once we answer 2xx, so a 200 must survive a power
 *   cut, not only a crash of this process (which `NORMAL` would guarantee).
 *   The fsync costs a few ms per commit; the writer groups concurrent
 *   requests into one transaction so it is paid per group, not per request.
 * - `cache_size=-65536` (64 MiB): holds the hot pages of both indexes (a batch
 *   from 100 sensors touches 100 places of `readings_by_sensor`) and the
 *   upper levels of every B-tree, so inserts and "newest N" stay in memory.
 * - `temp_store=MEMORY`: GROUP BY and ORDER BY sorters stay off disk.
 * - `wal_autocheckpoint=10000` (about 40 MiB): fewer, larger checkpoints;
 *   a hot index page rewritten by many commits is copied back once.
 *   `journal_size_limit` truncates the WAL back after a checkpoint.
 * - `busy_timeout`: another process (a backup, the sqlite3 shell) holding a
 *   lock briefly makes us wait instead of failing a request.
 */
export const PRAGMAS = `
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = FULL;
  PRAGMA cache_size = -65536;
  PRAGMA temp_store = MEMORY;
  PRAGMA wal_autocheckpoint = 10000;
  PRAGMA journal_size_limit = 67108864;
  PRAGMA busy_timeout = 5000;
`;

/**
 * Brings the database to {@linkcode SCHEMA_VERSION} (or to `target`, for a
 * test that needs a file as an older release left it). Throws `RangeError`
 * for a file written by a newer release.
 */
export function migrate(db: DatabaseSync, location: string, target = SCHEMA_VERSION): void {
  const version = (db.prepare("PRAGMA user_version").get() as { user_version: number })
    .user_version;
  if (version > SCHEMA_VERSION) {
    throw new RangeError(
      `Cannot open store "${location}": schema version ${version} is newer than this release's ${SCHEMA_VERSION}`,
    );
  }
  if (version >= target) return;
  db.exec("BEGIN IMMEDIATE");
  try {
    for (let step = version; step < target; step++) db.exec(MIGRATIONS[step]!);
    db.exec(`PRAGMA user_version = ${target}`);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}
