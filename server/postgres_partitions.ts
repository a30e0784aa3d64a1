/**
 * Weekly partitions of the PostgreSQL `readings` table, and retention by
 * dropping them.
 *
 * `readings` is partitioned by range of `ts` (epoch ms), one partition per
 * UTC week from Monday 00:00 named `readings_wYYYYMMDD` (its Monday),
 * created a week ahead by {@linkcode ensurePartitions} (at start and every
 * hour, by every instance; an advisory lock makes them take turns). Weeks
 * rather than days so that a year is 53 partitions: a page without a time
 * window opens every partition (docs/postgres.md). Where a week cannot
 * have one partition, its days get their own (`readings_pYYYYMMDD`, what
 * the first releases made for every day): a week that already has day
 * partitions (a database from those releases), or one whose rows are
 * partly in the default partition.
 *
 * `readings_default` is the safety net: a reading of a time without a
 * partition (one that arrives weeks late, or a sensor whose clock is far
 * off) lands there instead of being refused. A span whose rows are
 * already in the default partition gets no partition of its own; its rows
 * stay in the default one.
 *
 * {@linkcode dropPartitionsBefore} applies `--retain-days` by whole
 * partitions: one that ends before the cutoff is detached (a brief lock),
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
export const WEEK_MS: number = 7 * DAY_MS;
/** 1970-01-05, the first Monday after the epoch: weeks start on Mondays from there. */
const FIRST_MONDAY = 4 * DAY_MS;
/** The lock that makes instances create partitions one at a time. */
const PARTITION_LOCK = 0x7669676970;
/** PostgreSQL's check_violation: the default partition already has rows of that span. */
const CHECK_VIOLATION = "23514";
const NAME = /^readings_([pw])(\d{4})(\d{2})(\d{2})$/;

/**
 * The start of the UTC week (Monday 00:00) holding `t`.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { weekStart } from "./postgres_partitions.ts";
 * const sunday = Date.parse("2026-12-06T23:59:59Z");
 * assert.equal(new Date(weekStart(sunday)).toISOString(), "2026-11-30T00:00:00.000Z");
 * assert.equal(weekStart(Date.parse("2026-12-07T00:00:00Z")), Date.parse("2026-12-07T00:00:00Z"));
 * ```
 */
export function weekStart(t: number): number {
  return Math.floor((t - FIRST_MONDAY) / WEEK_MS) * WEEK_MS + FIRST_MONDAY;
}

/**
 * The partition of the week (or, with `DAY_MS`, the day) starting at
 * `start`: `readings_w20261130`, `readings_p20261124`.
 */
export function partitionName(start: number, span = WEEK_MS): string {
  const date = new Date(start).toISOString().slice(0, 10).replaceAll("-", "");
  return `readings_${span === DAY_MS ? "p" : "w"}${date}`;
}

/** The span `[start, end)` a partition named by {@linkcode partitionName} covers, if it is one. */
function partitionSpan(name: string): { start: number; end: number } | undefined {
  const match = NAME.exec(name);
  if (match === null) return undefined;
  const [, kind, year, month, day] = match;
  const start = Date.UTC(Number(year), Number(month) - 1, Number(day));
  return { start, end: start + (kind === "p" ? DAY_MS : WEEK_MS) };
}

/** Creates the partitions of the week of `now` and the next week, where missing. */
export async function ensurePartitions(sql: Sql, now: number): Promise<void> {
  await ensureWeeks(sql, [weekStart(now), weekStart(now) + WEEK_MS]);
}

/**
 * Creates the partitions of the weeks starting at `weeks`, where missing:
 * one per week, or one per day of a week that cannot have one (see the
 * module doc).
 */
export async function ensureWeeks(sql: Sql, weeks: Iterable<number>): Promise<void> {
  const days = new Set(
    (await readingPartitions(sql)).filter((p) => p.end - p.start === DAY_MS).map((p) => p.start),
  );
  for (const week of weeks) {
    const weekDays = Array.from({ length: 7 }, (_, i) => week + i * DAY_MS);
    if (!weekDays.some((day) => days.has(day)) && await create(sql, week, WEEK_MS)) continue;
    for (const day of weekDays) await create(sql, day, DAY_MS);
  }
}

/** Creates the partition of `[start, start + span)` unless it exists; false if the default partition holds rows of it. */
async function create(sql: Sql, start: number, span: number): Promise<boolean> {
  try {
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`;
      await announce(tx as unknown as Sql);
      await tx.unsafe(
        `CREATE TABLE IF NOT EXISTS ${partitionName(start, span)} PARTITION OF readings
         FOR VALUES FROM (${start}) TO (${start + span})`,
      );
    });
    return true;
  } catch (error) {
    if ((error as { code?: string }).code !== CHECK_VIOLATION) throw error;
    return false;
  }
}

/** The week and day partitions of `readings`, with their spans. */
export async function readingPartitions(
  sql: Sql,
): Promise<{ name: string; start: number; end: number }[]> {
  const tables = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'readings'::regclass`;
  return tables.flatMap(({ name }) => {
    const span = partitionSpan(name);
    return span === undefined ? [] : [{ name, ...span }];
  });
}

/**
 * Detaches, counts and drops every week or day partition that ends at or
 * before `cutoff`, each in one transaction with its summaries taken out;
 * returns the readings dropped.
 */
export async function dropPartitionsBefore(sql: Sql, cutoff: number): Promise<number> {
  let dropped = 0;
  for (const { name, start, end } of await readingPartitions(sql)) {
    if (end > cutoff) continue;
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK})`;
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
        { from: start, to: end },
      );
      for (const row of counted) dropped += row.n;
    });
  }
  return dropped;
}

/**
 * Deletes up to `limit` readings of the default partition older than
 * `cutoff` (a week start), with their share of the summaries and every
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
