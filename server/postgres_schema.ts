/**
 * The PostgreSQL store's connection, schema and schema versions.
 *
 * - `readings`: one row per reading, partitioned by week of `ts`
 *   (postgres_partitions.ts), primary key `(sensor_id, ts, seq)`,
 *   the identity of a reading, so two server instances storing the same
 *   reading store it once (`INSERT … ON CONFLICT DO NOTHING`).
 *   `cursor` is the reading's place in storage order, built from the
 *   inserting transaction's id (see docs/postgres.md: why `after=` never
 *   skips a reading), indexed by `readings_by_cursor`; `readings_by_time`
 *   serves "newest N" and time windows. No index has the sensor before the
 *   cursor: a fourth index costs a third of the write rate (docs/postgres.md).
 *   Values are integer hundredths, times integer epoch ms, as in SQLite.
 * - `vigia_sensors`, `vigia_rollups`, `vigia_meta.summarized_cursor`: the
 *   summaries of postgres_summary.ts, as the SQLite store keeps them.
 * - `vigia_imports`: how far `deno task migrate` has copied each SQLite
 *   file (its cursor), so an interrupted copy resumes (postgres_import.ts).
 * - `vigia_schema`: one row, the schema version. {@linkcode migrateSchema}
 *   runs every step from the database's version to
 *   {@linkcode PG_SCHEMA_VERSION} in one transaction under an advisory lock,
 *   so several instances starting at once migrate it exactly once; a
 *   database from a newer release is refused rather than misread.
 *
 * @module
 */

import postgres from "postgres";

/** A connection pool. */
export type Sql = postgres.Sql<{ number: number }>;

/**
 * Migration steps: `MIGRATIONS[i]` takes a database from version `i` to
 * `i + 1`. Append only; never edit a released step.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE readings (
    cursor bigint NOT NULL,
    sensor_id bigint NOT NULL,
    seq bigint NOT NULL,
    ts bigint NOT NULL,
    temperature integer,
    pressure integer,
    humidity integer,
    PRIMARY KEY (sensor_id, ts, seq)
  ) PARTITION BY RANGE (ts);
  CREATE TABLE readings_default PARTITION OF readings DEFAULT;
  CREATE INDEX readings_by_cursor ON readings (cursor);
  CREATE INDEX readings_by_time ON readings (ts, seq);
  CREATE TABLE vigia_sensors (
    sensor_id bigint PRIMARY KEY,
    readings bigint NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL
  );
  CREATE TABLE vigia_rollups (
    width integer NOT NULL,
    bucket bigint NOT NULL,
    sensor_id bigint NOT NULL,
    count bigint NOT NULL,
    temperature_count bigint NOT NULL,
    temperature_min integer,
    temperature_max integer,
    temperature_sum bigint NOT NULL,
    pressure_count bigint NOT NULL,
    pressure_min integer,
    pressure_max integer,
    pressure_sum bigint NOT NULL,
    humidity_count bigint NOT NULL,
    humidity_min integer,
    humidity_max integer,
    humidity_sum bigint NOT NULL,
    PRIMARY KEY (width, bucket, sensor_id)
  );
  CREATE TABLE vigia_meta (key text PRIMARY KEY, value bigint NOT NULL);
  INSERT INTO vigia_meta (key, value) VALUES ('summarized_cursor', 0);
  CREATE TABLE vigia_imports (
    source text PRIMARY KEY,
    cursor bigint NOT NULL,
    copied bigint NOT NULL
  );
  `,
];

/** The schema version this release writes. */
export const PG_SCHEMA_VERSION: number = MIGRATIONS.length;

/** Any 64-bit number, the same in every release: the lock that serialises migrations. */
const MIGRATION_LOCK = 0x7669676961;

/**
 * Opens a pool of up to `max` connections on `url` (the password from the
 * URL, else `password`).
 * int8 and numeric come back as numbers: every integer this store keeps,
 * cursors included, is below 2^53. With `generic`, its prepared statements
 * are planned once, not at each execution: only for statements that an
 * index serves whatever their parameters (postgres_storage.ts).
 */
export function connect(
  url: string,
  password: string | undefined,
  max = 8,
  generic = false,
): Sql {
  const parsed = new URL(url);
  const options: postgres.Options<{ number: postgres.PostgresType<number> }> = {
    max,
    connect_timeout: 10,
    onnotice: () => {},
    connection: {
      application_name: "vigia-server",
      // A generic plan's cost assumes LIMIT $n is a tenth of the table, which
      // would make PostgreSQL compile (JIT) a 100-row query at every execution.
      ...(generic ? { plan_cache_mode: "force_generic_plan", jit: "off" } : {}),
    },
    types: {
      number: {
        to: 20,
        from: [20, 1700],
        serialize: (value: number) => String(value),
        parse: (raw: string) => Number(raw),
      },
    },
  };
  if (parsed.password === "" && password !== undefined) options.pass = password;
  return postgres(url, options) as Sql;
}

/**
 * Brings the database to {@linkcode PG_SCHEMA_VERSION} (tests: to `target`);
 * throws `RangeError` for a newer one.
 */
export async function migrateSchema(
  sql: Sql,
  location: string,
  target = PG_SCHEMA_VERSION,
): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS vigia_schema (version integer NOT NULL)`;
    const [row] = await tx<{ version: number }[]>`SELECT version FROM vigia_schema`;
    const version = row?.version ?? 0;
    if (version > PG_SCHEMA_VERSION) {
      throw new RangeError(
        `Cannot open store "${location}": schema version ${version} is newer than this release's ${PG_SCHEMA_VERSION}`,
      );
    }
    for (let step = version; step < target; step++) {
      await tx.unsafe(MIGRATIONS[step]!);
    }
    if (row === undefined) {
      await tx`INSERT INTO vigia_schema (version) VALUES (${target})`;
    } else if (version < target) {
      await tx`UPDATE vigia_schema SET version = ${target}`;
    }
  });
}
