/**
 * The benchmarks' side of a PostgreSQL store (`--db postgres://…`): empty
 * it before a run, and read what a run stored, per sensor, for the tally.
 * The database must be a scratch one: its readings are deleted.
 *
 * @module
 */

import postgres from "postgres";
import { SUMMARY_LOCK } from "../server/postgres_summary.ts";
import { openStorage } from "../server/storage.ts";

/**
 * Creates the schema if needed and deletes every reading of the database at
 * `url`, with the summaries that count them: summaries left behind would be
 * added to the next run's (`/api/sensors` would count both runs).
 */
export async function emptyPostgres(url: string): Promise<void> {
  await (await openStorage(url)).close();
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
      await tx`TRUNCATE readings, vigia_sensors, vigia_rollups, vigia_imports`;
      await tx`UPDATE vigia_meta SET value = 0 WHERE key = 'summarized_cursor'`;
    });
  } finally {
    await sql.end();
  }
}

/** Per sensor: rows, distinct seqs, lowest and highest seq (what the tally reads). */
export async function postgresSensorRows(
  url: string,
): Promise<{ sensor: number; n: number; d: number; lo: number; hi: number }[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ sensor: number; n: number; d: number; lo: number; hi: number }[]>`
      SELECT sensor_id::int AS sensor, count(*)::int AS n, count(DISTINCT seq)::int AS d,
        min(seq)::int AS lo, max(seq)::int AS hi
      FROM readings GROUP BY sensor_id`;
    return [...rows];
  } finally {
    await sql.end();
  }
}
