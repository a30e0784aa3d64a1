/**
 * Daily partitions of the PostgreSQL `readings` table, and retention by
 * dropping them.
 *
 * `readings` is partitioned by range of `ts` (epoch ms), one partition per
 * UTC day named `readings_pYYYYMMDD`, created a few days ahead by
 * {@linkcode ensurePartitions} (at start and every hour, by every instance;
 * an advisory lock makes them take turns). `readings_default` is the
 * safety net: a reading of a day without a partition (one that arrives
 * days late, or a sensor whose clock is far off) lands there instead of
 * being refused. A day whose rows are already in the default partition
 * gets no partition of its own; its rows stay in the default one.
 *
 * {@linkcode dropPartitionsBefore} applies `--retain-days` by whole days: a
 * partition whose day ends before the cutoff is detached (a brief lock),
 * counted and dropped, with no row-by-row delete and nothing for VACUUM to
 * clean. Rows of the default partition are deleted in chunks by the
 * writer (postgres_writer.ts).
 *
 * @module
 */

import type { Sql } from "./postgres_schema.ts";

export const DAY_MS = 86_400_000;
/** Partitions exist for today and this many days ahead. */
const DAYS_AHEAD = 2;
/** The lock that makes instances create partitions one at a time. */
const PARTITION_LOCK = 0x7669676970;
/** PostgreSQL's check_violation: the default partition already has rows of that day. */
const CHECK_VIOLATION = "23514";
const NAME = /^readings_p(\d{4})(\d{2})(\d{2})$/;

/** `readings_p20261124` for the UTC day starting at `dayStart`. */
export function partitionName(dayStart: number): string {
  return `readings_p${new Date(dayStart).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** Creates the partitions of the day of `now` and the next days, where missing. */
export async function ensurePartitions(sql: Sql, now: number): Promise<void> {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  for (let day = today; day <= today + DAYS_AHEAD * DAY_MS; day += DAY_MS) {
    try {
      await sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
        await tx.unsafe(
          `CREATE TABLE IF NOT EXISTS ${partitionName(day)} PARTITION OF readings
           FOR VALUES FROM (${day}) TO (${day + DAY_MS})`,
        );
      });
    } catch (error) {
      if ((error as { code?: string }).code !== CHECK_VIOLATION) throw error;
    }
  }
}

/**
 * Detaches, counts and drops every day partition that ends at or before
 * `cutoff` (also one a crash left detached); returns the readings dropped.
 */
export async function dropPartitionsBefore(sql: Sql, cutoff: number): Promise<number> {
  const tables = await sql<{ name: string; attached: boolean }[]>`
    SELECT c.relname AS name,
      EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS attached
    FROM pg_class c
    WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
      AND c.relname ~ '^readings_p[0-9]{8}$'`;
  let dropped = 0;
  for (const { name, attached } of tables) {
    const [, year, month, day] = NAME.exec(name)!;
    const end = Date.UTC(Number(year), Number(month) - 1, Number(day)) + DAY_MS;
    if (end > cutoff) continue;
    if (attached) await sql.unsafe(`ALTER TABLE readings DETACH PARTITION ${name}`);
    const [row] = await sql.unsafe<{ n: number }[]>(`SELECT count(*)::int8 AS n FROM ${name}`);
    await sql.unsafe(`DROP TABLE ${name}`);
    dropped += row!.n;
  }
  return dropped;
}
