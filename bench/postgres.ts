/**
 * The benchmarks' side of a PostgreSQL store (`--db postgres://…`): empty
 * it before a run, build a large store in bulk, and read what a run
 * stored, per sensor, for the tally. The database must be a scratch one:
 * its readings are deleted.
 *
 * @module
 */

import postgres from "postgres";
import { partitionName, readingPartitions, WEEK_MS } from "../server/postgres_partitions.ts";
import type { Sql } from "../server/postgres_schema.ts";
import {
  AGGREGATE_OF_READINGS,
  AGGREGATE_OF_ROLLUPS,
  bucketOf,
  SUMMARY_LOCK,
} from "../server/postgres_summary.ts";
import { ROLLUP_WIDTHS } from "../server/schema.ts";
import { openStorage } from "../server/storage.ts";

/**
 * Creates the schema if needed and deletes every reading of the database at
 * `url`, with the summaries that count them: summaries left behind would be
 * added to the next run's (`/api/sensors` would count both runs).
 */
export async function emptyPostgres(url: string): Promise<void> {
  await (await openStorage(url)).close();
  return withSql(url, async (sql) => {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
      await tx`TRUNCATE readings, vigia_sensors, vigia_rollups, vigia_imports`;
      await tx`UPDATE vigia_meta SET value = 0 WHERE key = 'summarized_cursor'`;
    });
  });
}

/** One UTC week of a bulk load: its start, and the numbers `[from, to)` of its readings. */
export interface LoadWeek {
  readonly start: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Empties the database at `url` and fills it with the readings numbered
 * `from` to `to - 1` of each week in `weeks`, in bulk: `select` is a query
 * over `generate_series($1::int8, $2::int8) AS k` giving the columns of
 * `readings` in their order (`cursor, sensor_id, seq, ts, temperature,
 * pressure, humidity`), with cursor `k + 1`. Storing millions of readings
 * through the store's writer takes many minutes; this takes one or two.
 *
 * Every partition but the default one is dropped first. Each week goes
 * into a table of its own without indexes, which is then attached as that
 * week's partition (PostgreSQL builds its indexes at once, by sorting).
 * Then VACUUM ANALYZE, what autovacuum does to a table that received that
 * many inserts, and the summaries (`vigia_sensors`,
 * `vigia_rollups`, the summarised cursor) computed from the readings in
 * SQL, as the server would have kept them while storing them. Cursors
 * `1…N` are below the horizon of every later transaction (checked), so a
 * reader sees them all, and a server storing more readings afterwards
 * gives them higher cursors.
 */
export async function loadPostgres(
  url: string,
  weeks: readonly LoadWeek[],
  select: string,
): Promise<void> {
  await emptyPostgres(url);
  return withSql(url, async (sql) => {
    const last = Math.max(0, ...weeks.map((week) => week.to));
    const [row] = await sql<{ xid: string }[]>`SELECT pg_current_xact_id()::text AS xid`;
    const xid = row!.xid;
    if (BigInt(last) >= BigInt(xid) << 17n) {
      throw new RangeError(
        `Cannot load ${last} readings: cursors 1…${last} would not all be below the horizon (transaction id ${xid})`,
      );
    }
    await sql`SET maintenance_work_mem = '256MB'`;
    for (const { name } of await readingPartitions(sql as unknown as Sql)) {
      await sql.unsafe(`DROP TABLE ${name}`);
    }
    for (const week of weeks) {
      const name = partitionName(week.start);
      await sql.unsafe(`CREATE TABLE ${name} (LIKE readings)`);
      await sql.unsafe(`INSERT INTO ${name} ${select}`, [week.from, week.to - 1]);
      await sql.unsafe(
        `ALTER TABLE readings ATTACH PARTITION ${name}
         FOR VALUES FROM (${week.start}) TO (${week.start + WEEK_MS})`,
      );
    }
    await sql`VACUUM ANALYZE readings`;
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
      await tx`
        INSERT INTO vigia_sensors (sensor_id, readings, first_seen, last_seen)
        SELECT sensor_id, count(*), min(ts), max(ts) FROM readings GROUP BY sensor_id`;
      const [finest, ...coarser] = ROLLUP_WIDTHS;
      // Week by week: every width divides a day, so no bucket spans two weeks.
      for (const week of weeks) {
        await tx.unsafe(
          `INSERT INTO vigia_rollups
           SELECT ${finest}, ${bucketOf("ts", finest)} AS b, sensor_id, ${AGGREGATE_OF_READINGS}
           FROM ${partitionName(week.start)} GROUP BY b, sensor_id`,
        );
      }
      for (const width of coarser) {
        await tx.unsafe(
          `INSERT INTO vigia_rollups
           SELECT ${width}, ${bucketOf("bucket", width)} AS b, sensor_id, ${AGGREGATE_OF_ROLLUPS}
           FROM vigia_rollups WHERE width = ${finest} GROUP BY b, sensor_id`,
        );
      }
      await tx`UPDATE vigia_meta SET value = ${last} WHERE key = 'summarized_cursor'`;
    });
    await sql`ANALYZE vigia_sensors, vigia_rollups`;
  });
}

/** How many readings the summaries of the database at `url` count (0 without a schema). */
export function postgresReadings(url: string): Promise<number> {
  return withSql(url, async (sql) => {
    try {
      const [row] = await sql<{ n: string }[]>`
        SELECT coalesce(sum(readings), 0)::int8 AS n FROM vigia_sensors`;
      return Number(row!.n);
    } catch (error) {
      if ((error as { code?: string }).code === "42P01") return 0; // undefined_table
      throw error;
    }
  });
}

/** Per sensor: rows, distinct seqs, lowest and highest seq (what the tally reads). */
export function postgresSensorRows(
  url: string,
): Promise<{ sensor: number; n: number; d: number; lo: number; hi: number }[]> {
  return withSql(url, async (sql) => {
    const rows = await sql<{ sensor: number; n: number; d: number; lo: number; hi: number }[]>`
      SELECT sensor_id::int AS sensor, count(*)::int AS n, count(DISTINCT seq)::int AS d,
        min(seq)::int AS lo, max(seq)::int AS hi
      FROM readings GROUP BY sensor_id`;
    return [...rows];
  });
}

/** Runs `body` on a one-connection pool to the database at `url`, then closes it. */
async function withSql<T>(url: string, body: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await body(sql);
  } finally {
    await sql.end();
  }
}
