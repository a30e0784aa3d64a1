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
 * clean, and its share taken out of the summaries in the same
 * transaction. {@linkcode deleteDefaultBefore} deletes the default
 * partition's old rows in chunks.
 *
 * @module
 */

import type { Sql } from "./postgres_schema.ts";
import { announce, forgetSummarized, summarizedCursor, SUMMARY_LOCK } from "./postgres_summary.ts";

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
        await announce(tx as unknown as Sql);
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
 * `cutoff`, each in one transaction with its summaries taken out; returns
 * the readings dropped.
 */
export async function dropPartitionsBefore(sql: Sql, cutoff: number): Promise<number> {
  const tables = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'readings'::regclass AND c.relname ~ '^readings_p[0-9]{8}$'`;
  let dropped = 0;
  for (const { name } of tables) {
    const [, year, month, day] = NAME.exec(name)!;
    const start = Date.UTC(Number(year), Number(month) - 1, Number(day));
    if (start + DAY_MS > cutoff) continue;
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
      await announce(tx as unknown as Sql);
      await announce(tx as unknown as Sql);
      await tx.unsafe(`ALTER TABLE readings DETACH PARTITION ${name}`);
      const counted = await tx.unsafe<{ id: number; n: number; summarized: number }[]>(
        `SELECT sensor_id AS id, count(*)::int8 AS n,
           (count(*) FILTER (WHERE cursor <= $1))::int8 AS summarized
         FROM ${name} GROUP BY sensor_id`,
        [await summarizedCursor(tx as unknown as Sql)],
      );
      await tx.unsafe(`DROP TABLE ${name}`);
      await forgetSummarized(
        tx as unknown as Sql,
        new Map(counted.map((row) => [row.id, row.summarized])),
        { from: start, to: start + DAY_MS },
      );
      for (const row of counted) dropped += row.n;
    });
  }
  return dropped;
}

/**
 * Deletes up to `limit` readings of the default partition older than
 * `cutoff` (a day start), with their share of the summaries and every
 * rollup before `cutoff`; returns how many it deleted.
 */
export function deleteDefaultBefore(sql: Sql, cutoff: number, limit: number): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
    await announce(tx as unknown as Sql);
    const summarized = await summarizedCursor(tx as unknown as Sql);
    const deleted = await tx<{ id: number; cursor: number }[]>`
      WITH doomed AS (
        SELECT sensor_id, ts, seq FROM readings_default WHERE ts < ${cutoff}
        ORDER BY ts, seq LIMIT ${limit})
      DELETE FROM readings_default r USING doomed d
      WHERE r.sensor_id = d.sensor_id AND r.ts = d.ts AND r.seq = d.seq
      RETURNING r.sensor_id AS id, r.cursor`;
    const perSensor = new Map<number, number>();
    for (const row of deleted) {
      if (row.cursor <= summarized) perSensor.set(row.id, (perSensor.get(row.id) ?? 0) + 1);
    }
    await forgetSummarized(tx as unknown as Sql, perSensor, {
      from: -9_000_000_000_000_000,
      to: cutoff,
    });
    return deleted.length;
  }) as Promise<number>;
}
