/**
 * Summaries of the PostgreSQL store, as the SQLite store keeps them
 * (store.ts): per-sensor counts and time spans in `vigia_sensors`, and
 * count/min/max/sum per sensor per bucket at the rollup widths
 * (schema.ts) in `vigia_rollups`, so `/api/sensors` and `/api/series` over
 * a day read thousands of rows instead of millions. `vigia_meta`'s
 * `summarized_cursor` says how far they go; reads add the readings stored
 * after it (the tail), so answers are always exact.
 *
 * {@linkcode summarize} runs a few times per second in every instance;
 * the one that gets the advisory lock summarises, the others skip. It
 * reads only readings below the horizon (postgres_storage.ts): every
 * reading that can still appear later has a cursor above them, so none can
 * land below `summarized_cursor` unsummarised. Its aggregates, upserts and
 * the cursor's move are one transaction, so a reader's snapshot sees all
 * of it or none. Retention takes the same lock to subtract what it drops
 * (postgres_partitions.ts).
 *
 * @module
 */

import type { Sql } from "./postgres_schema.ts";
import { ROLLUP_WIDTHS } from "./schema.ts";
import type { SeriesRow, SeriesSegment } from "./storage.ts";
import { seriesParts } from "./summary.ts";

/** The lock of the summaries: summarising and retention take turns. */
export const SUMMARY_LOCK = 0x7669676973;
/** Readings summarised per transaction at most. */
const CHUNK = 50_000;
/** The ids of the transactions that announced themselves ({@linkcode announce}), as SQL. */
const ANNOUNCED = `SELECT ((classid::int8 & 268435455) << 32) | objid::int8 AS xid FROM pg_locks
  WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND classid::int8 >= 268435456`;

/**
 * The transactions that announced themselves ({@linkcode announce}), by
 * id. Being announced is for good (such a transaction never inserts
 * readings), so an id seen announced is safe to leave out of any snapshot,
 * whenever it was read; one that announces only later is merely waited for.
 */
export async function announcedTransactions(sql: Sql): Promise<number[]> {
  const rows = await sql.unsafe<{ xid: number }[]>(ANNOUNCED);
  return rows.map((row) => row.xid);
}

/**
 * Every reading below it has been committed or rolled back; see
 * postgres_storage.ts. It is the snapshot's oldest running transaction
 * (else its `xmax`) leaving out the `announced` ones: they never insert
 * readings, so a follower need not wait for them. Without `announced`, the
 * statement reads them itself (one round trip less; pg_locks is not
 * transactional, so a statement that needs the horizon twice computes it
 * once, in a materialised CTE).
 */
export function horizon(sql: Sql, announced?: readonly number[]): ReturnType<Sql> {
  const leftOut = announced === undefined
    ? sql`ARRAY(SELECT xid FROM (${sql.unsafe(ANNOUNCED)}) AS a)`
    : sql`${announced as number[]}::int8[]`;
  return sql`(coalesce(
    (SELECT min(x::text::int8) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
     WHERE x::text::int8 <> ALL(${leftOut})),
    pg_snapshot_xmax(pg_current_snapshot())::text::int8) << 17)`;
}

/**
 * Marks the calling transaction as one that stores no readings (summaries,
 * retention, partitions), so {@linkcode horizon} does not hold followers
 * back for it: an advisory lock on `2^60 | its id`, taken as it gets the id.
 */
export async function announce(tx: Sql): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock((1::int8 << 60) | pg_current_xact_id()::text::int8)`;
}
/** A reading's columns under the names of `Reading`. */
export const COLUMNS =
  `sensor_id AS "sensorId", seq, ts AS "timestamp", temperature, pressure, humidity`;
const QUANTITIES = ["temperature", "pressure", "humidity"] as const;
/** A rollup row's aggregate columns, in the order of the aggregates below. */
const ROLLUP_COLUMNS = `count, ${
  QUANTITIES.map((q) => `${q}_count, ${q}_min, ${q}_max, ${q}_sum`).join(", ")
}`;

/** The cursor up to which the summaries go, in `sql`'s snapshot. */
export async function summarizedCursor(sql: Sql): Promise<number> {
  const [row] = await sql<{ value: number }[]>`
    SELECT value FROM vigia_meta WHERE key = 'summarized_cursor'`;
  return row!.value;
}

/**
 * Summarises up to 50,000 readings stored since the last summary, unless
 * another instance is at it; returns how many it summarised.
 *
 * One statement does it all inside PostgreSQL (the readings never travel to
 * the server) and reads the chunk after the summarised cursor once: into
 * its finest buckets, which also carry each bucket's first and last time
 * and last cursor. Everything else comes from those few thousand rows: the
 * per-sensor counts, each coarser width from the one below it (each width
 * divides the next), and the cursor's move. Every upsert goes in key order
 * (like every writer of these rows: no deadlock).
 */
export function summarize(sql: Sql): Promise<number> {
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`
      SELECT pg_try_advisory_xact_lock(${SUMMARY_LOCK}) AS ok`;
    if (!lock!.ok) return 0;
    await announce(tx as unknown as Sql);
    const from = await summarizedCursor(tx as unknown as Sql);
    // Read committed: the statement takes a new snapshot, after this list.
    const announced = await announcedTransactions(tx as unknown as Sql);
    const [row] = await tx<{ summarized: number }[]>`
      WITH level0 (width, bucket, sensor_id, ${tx.unsafe(ROLLUP_COLUMNS)},
        first_ts, last_ts, last_cursor) AS MATERIALIZED (
        SELECT ${ROLLUP_WIDTHS[0]}::int4, ${tx.unsafe(bucketOf("ts", ROLLUP_WIDTHS[0]))},
          sensor_id, ${tx.unsafe(AGGREGATE_OF_READINGS)}, min(ts), max(ts), max(cursor)
        FROM (
          SELECT cursor, sensor_id, ts, temperature, pressure, humidity FROM readings
          WHERE cursor > ${from} AND cursor < ${horizon(tx as unknown as Sql, announced)}
          ORDER BY cursor LIMIT ${CHUNK}
        ) AS chunk
        GROUP BY 2, 3
      ), ${tx.unsafe(COARSER_LEVELS)}, sensors AS (
        INSERT INTO vigia_sensors (sensor_id, readings, first_seen, last_seen)
        SELECT sensor_id, sum(count), min(first_ts), max(last_ts) FROM level0
        GROUP BY sensor_id ORDER BY sensor_id
        ON CONFLICT (sensor_id) DO UPDATE SET
          readings = vigia_sensors.readings + excluded.readings,
          first_seen = least(vigia_sensors.first_seen, excluded.first_seen),
          last_seen = greatest(vigia_sensors.last_seen, excluded.last_seen)
      ), rollups AS (
        INSERT INTO vigia_rollups (width, bucket, sensor_id, ${tx.unsafe(ROLLUP_COLUMNS)})
        SELECT * FROM (${tx.unsafe(ALL_LEVELS)}) AS levels ORDER BY width, bucket, sensor_id
        ON CONFLICT (width, bucket, sensor_id) DO UPDATE SET
          count = vigia_rollups.count + excluded.count, ${
      tx.unsafe(
        QUANTITIES.map((q) =>
          `${q}_count = vigia_rollups.${q}_count + excluded.${q}_count,
           ${q}_min = least(vigia_rollups.${q}_min, excluded.${q}_min),
           ${q}_max = greatest(vigia_rollups.${q}_max, excluded.${q}_max),
           ${q}_sum = vigia_rollups.${q}_sum + excluded.${q}_sum`
        ).join(", "),
      )
    }
      ), moved AS (
        UPDATE vigia_meta SET value = last.cursor
        FROM (SELECT max(last_cursor) AS cursor FROM level0) AS last
        WHERE key = 'summarized_cursor' AND last.cursor IS NOT NULL
      )
      SELECT coalesce(sum(count), 0)::int8 AS summarized FROM level0`;
    return row!.summarized;
  }) as Promise<number>;
}

/** count, then count/min/max/sum of each quantity, over readings: a rollup row's columns. */
export const AGGREGATE_OF_READINGS = `count(*)::int8, ${
  QUANTITIES.map((q) => `count(${q})::int8, min(${q}), max(${q}), coalesce(sum(${q}), 0)::int8`)
    .join(", ")
}`;
/** The same over rollup rows: the columns of a coarser rollup row. */
export const AGGREGATE_OF_ROLLUPS = `sum(count)::int8, ${
  QUANTITIES.map((q) => `sum(${q}_count)::int8, min(${q}_min), max(${q}_max), sum(${q}_sum)::int8`)
    .join(", ")
}`;

/** Width n's rollups from width n − 1's, as CTEs `level1` … of {@linkcode summarize}. */
const COARSER_LEVELS = ROLLUP_WIDTHS.slice(1).map((width, i) =>
  `level${i + 1} (width, bucket, sensor_id, ${ROLLUP_COLUMNS}) AS MATERIALIZED (
    SELECT ${width}::int4, ${bucketOf("bucket", width)}, sensor_id, ${AGGREGATE_OF_ROLLUPS}
    FROM level${i} GROUP BY 2, 3)`
).join(", ");
/** Every level's rollup rows, in the columns of `vigia_rollups`. */
const ALL_LEVELS = ROLLUP_WIDTHS.map((_, i) =>
  `SELECT width, bucket, sensor_id, ${ROLLUP_COLUMNS} FROM level${i}`
).join(" UNION ALL ");

/** SQL for the start of `column`'s bucket of `bucket` ms, as summary.ts's `bucketStart`. */
export function bucketOf(column: string, bucket: number): string {
  return `${column} - (((${column} % ${bucket}) + ${bucket}) % ${bucket})`;
}

/**
 * Series rows over `segments` in `sql`'s snapshot, as the SQLite store
 * answers them: raw readings for width 0, rollups of the segment's width
 * otherwise, plus the tail of readings after the summarised cursor over
 * the rolled-up part.
 */
export async function seriesRows(
  sql: Sql,
  segments: readonly SeriesSegment[],
  options: { bucket: number; sensor?: number | undefined },
): Promise<SeriesRow[]> {
  const bucket = Math.trunc(options.bucket);
  const sensor = options.sensor === undefined
    ? ""
    : `AND sensor_id = ${Math.trunc(options.sensor)}`;
  const parts: unknown[][] = [];
  for (const part of seriesParts(segments)) {
    const { from, to } = part;
    const query = part.kind === "raw"
      ? sql.unsafe(
        `SELECT sensor_id, ${bucketOf("ts", bucket)} AS t, ${AGGREGATE_OF_READINGS}
         FROM readings WHERE ts >= $1 AND ts < $2 ${sensor} GROUP BY t, sensor_id`,
        [from, to],
      )
      : part.kind === "rollup"
      ? sql.unsafe(
        `SELECT sensor_id, ${bucketOf("bucket", bucket)} AS t, ${AGGREGATE_OF_ROLLUPS}
         FROM vigia_rollups WHERE width = $1 AND bucket >= $2 AND bucket < $3 ${sensor}
         GROUP BY t, sensor_id`,
        [part.width, from, to],
      )
      : sql.unsafe(
        `SELECT sensor_id, ${bucketOf("ts", bucket)} AS t, ${AGGREGATE_OF_READINGS}
         FROM readings WHERE cursor > $1 AND ts >= $2 AND ts < $3 ${sensor}
         GROUP BY t, sensor_id`,
        [await summarizedCursor(sql), from, to],
      );
    parts.push(await query.values());
  }
  return ([] as unknown[]).concat(...parts) as SeriesRow[];
}

/**
 * Takes what retention deletes out of the summaries, in `tx` (which holds
 * {@linkcode SUMMARY_LOCK}, and has already removed the readings):
 * `summarized` readings per sensor come off `vigia_sensors` (whose first
 * reading is looked up again; a sensor left with none goes), and the
 * rollups of buckets in `[from, to)` go.
 */
export async function forgetSummarized(
  tx: Sql,
  summarized: ReadonlyMap<number, number>,
  range: { from: number; to: number },
): Promise<void> {
  const sensors = [...summarized].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  if (sensors.length > 0) {
    await tx`
      UPDATE vigia_sensors s SET readings = s.readings - d.n,
        first_seen = coalesce(
          (SELECT min(ts) FROM readings r WHERE r.sensor_id = s.sensor_id), s.first_seen)
      FROM unnest(${sensors.map(([id]) => id)}::int8[], ${sensors.map(([, n]) => n)}::int8[])
        AS d(id, n)
      WHERE s.sensor_id = d.id`;
    await tx`DELETE FROM vigia_sensors WHERE readings <= 0`;
  }
  // Every width named: the primary key (width, bucket, sensor_id) then serves
  // each width's range, where the bucket alone would read the whole table.
  await tx`DELETE FROM vigia_rollups WHERE width = ANY(${[...ROLLUP_WIDTHS]}::int4[])
    AND bucket >= ${range.from} AND bucket < ${range.to}`;
}
