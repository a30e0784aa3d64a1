/**
 * The PostgreSQL store behind the storage interface (storage.ts): several
 * server instances may share one database, each reading and writing.
 *
 * Storage order and the `after=` cursor. A reading's cursor is
 * `(xid << 17) + n`: the 64-bit id of the transaction that inserted it
 * (`pg_current_xact_id()`) and its position in that transaction's single
 * statement (postgres_insert.ts). Transactions commit in any order, so a
 * plain sequence would let a reader pass cursor 11 while cursor 10 is still
 * in flight and never see 10. Instead every read takes its snapshot's
 * oldest running transaction, and returns only rows whose cursor is below
 * that id `<< 17`, the *horizon*: every transaction below it has ended, so
 * all its rows are visible now, and any row not yet visible, in flight or
 * still to come, belongs to a transaction at or above it, so its cursor is
 * above everything returned. A follower may be held back while some
 * transaction runs, never made to skip. Transactions that insert no
 * readings (summaries, retention) announce themselves and are left out
 * (postgres_summary.ts), so they hold no follower back.
 * docs/postgres.md says more; tests/server_postgres_test.ts commits out of
 * order on purpose.
 *
 * Reads that must agree see one snapshot: a page and the newest cursor
 * are one statement (on a pool of their own with plans made once, see
 * below), summaries and the tail after them one `REPEATABLE READ`
 * transaction.
 * `/api/sensors` and `/api/series` read the summaries of
 * postgres_summary.ts plus that tail, as the SQLite store does.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import {
  DAY_MS,
  ensurePartitions,
  ensureWeeks,
  WEEK_MS,
  weekStart,
} from "./postgres_partitions.ts";
import { connect, migrateSchema, type Sql } from "./postgres_schema.ts";
import { STORED_CHANNEL } from "./postgres_insert.ts";
import { COLUMNS, horizon, seriesRows, summarize, summarizedCursor } from "./postgres_summary.ts";
import { PostgresWriter } from "./postgres_writer.ts";
import { mergeSensorCounts, type SensorCount } from "./summary.ts";
import {
  type CursorPage,
  type ReadingFilter,
  redactUrl,
  type SensorInfo,
  type SeriesRow,
  type SeriesSegment,
  type Storage,
  type StorageOptions,
  type StoredReading,
  StoreUnavailableError,
} from "./storage.ts";

/** How often the partitions of the coming days are created. */
const PARTITION_INTERVAL_MS = 3_600_000;
/** How far back `prepareFor` makes partitions, in years. */
const PREPARE_YEARS = 10;

/** How often the summaries are brought up to date. */
const SUMMARY_INTERVAL_MS = 250;

/** Connects to `url`, creates or migrates the schema, and returns the store. */
export async function openPostgresStorage(
  url: string,
  options: StorageOptions = {},
): Promise<Storage> {
  const location = redactUrl(url);
  let sql: Sql;
  let pages: Sql;
  try {
    sql = connect(url, options.password);
    pages = connect(url, options.password, 4, true);
  } catch (error) {
    throw new Error(`Cannot open --db "${location}": ${(error as Error).message}`);
  }
  try {
    await migrateSchema(sql, location);
    await ensurePartitions(sql, Date.now());
    // Open now the connections the writer's two groups, the summaries and
    // the live feed use, so the first writes do not wait for them.
    await Promise.all(Array.from({ length: 4 }, () => sql`SELECT 1`));
  } catch (error) {
    await Promise.all([sql.end({ timeout: 1 }), pages.end({ timeout: 1 })]);
    if (error instanceof RangeError) throw error;
    throw new Error(`Cannot open --db "${location}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  return new PostgresStorage(sql, pages, location);
}

class PostgresStorage implements Storage {
  readonly kind = "postgres";
  readonly location: string;
  #sql: Sql;
  /**
   * Pages and newest cursors: statements that a matching index serves
   * whatever their parameters, so their plans are made once per connection
   * (generic plans) instead of at every request, which across all the day
   * partitions costs more than running them.
   */
  #pages: Sql;
  #partitionTimer: ReturnType<typeof setInterval>;
  #summaryTimer: ReturnType<typeof setTimeout> | undefined;
  #summarizing: Promise<void> = Promise.resolve();
  #closed = false;
  /** Weeks {@linkcode prepareFor} has made partitions for. */
  #prepared = new Set<number>();

  constructor(sql: Sql, pages: Sql, location: string) {
    this.#sql = sql;
    this.#pages = pages;
    this.location = location;
    // A failure is left to the next hour: the default partition takes the rows meanwhile.
    this.#partitionTimer = setInterval(
      () => ensurePartitions(sql, Date.now()).catch(() => {}),
      PARTITION_INTERVAL_MS,
    );
    this.#scheduleSummary(0);
  }

  // A failure (the database away) is retried at the next tick; reads stay
  // exact meanwhile, they add the tail.
  #scheduleSummary(delayMs: number): void {
    if (this.#closed) return;
    this.#summaryTimer = setTimeout(() => {
      this.#summarizing = summarize(this.#sql).then(
        (summarized) => this.#scheduleSummary(summarized > 0 ? 0 : SUMMARY_INTERVAL_MS),
        () => this.#scheduleSummary(SUMMARY_INTERVAL_MS * 4),
      );
    }, delayMs);
  }

  // A page and the newest cursor are one statement: one snapshot, one round trip.
  async latestPage(filter: ReadingFilter): Promise<{ readings: Reading[]; cursor: number }> {
    const sql = this.#pages;
    const rows = await unavailableAsSuch(sql<PageRow[]>`
      WITH page AS MATERIALIZED (
        SELECT cursor, ${sql.unsafe(COLUMNS)} FROM readings
        WHERE true ${this.#filters(sql, filter)}
        ORDER BY ts DESC, seq DESC, cursor DESC LIMIT ${filter.limit})
      SELECT page.*, newest.cursor AS newest
      FROM (SELECT ${newestBelow(sql, horizon(sql))} AS cursor) AS newest
      LEFT JOIN page ON true
      ORDER BY page."timestamp" DESC, page.seq DESC, page.cursor DESC`);
    return pageOf(rows);
  }

  // The newest cursor only for a page that is not full; the horizon once for both.
  async after(cursor: number, filter: ReadingFilter): Promise<CursorPage> {
    const sql = this.#pages;
    // In storage order from `cursor`. One sensor's page keeps that sensor's readings of this
    // walk until it is full (OFFSET 0 keeps the planner from sorting all of them instead).
    const walk = sql`
      SELECT cursor, ${sql.unsafe(COLUMNS)} FROM readings
      WHERE cursor > ${cursor} AND cursor < (SELECT horizon FROM h)
        ${this.#filters(sql, { ...filter, sensor: undefined })}
      ORDER BY cursor`;
    const rows = await unavailableAsSuch(sql<PageRow[]>`
      WITH h AS MATERIALIZED (SELECT ${horizon(sql)} AS horizon),
      page AS MATERIALIZED (${
      filter.sensor === undefined ? sql`${walk} LIMIT ${filter.limit}` : sql`
        SELECT * FROM (${walk} OFFSET 0) AS walked
        WHERE "sensorId" = ${filter.sensor} LIMIT ${filter.limit}`
    })
      SELECT page.*, newest.cursor AS newest
      FROM (SELECT CASE WHEN (SELECT count(*) FROM page) < ${filter.limit} THEN
          ${newestBelow(sql, sql`(SELECT horizon FROM h)`)} END AS cursor) AS newest
      LEFT JOIN page ON true
      ORDER BY page.cursor`);
    const { readings, cursor: newest } = pageOf(rows);
    return {
      readings,
      cursor: readings.length === filter.limit ? readings[readings.length - 1]!.cursor : newest,
    };
  }

  sensors(): Promise<SensorInfo[]> {
    return this.#snapshot(async (sql) => {
      const counts = mergeSensorCounts(
        await sql<SensorCount[]>`
          SELECT sensor_id AS id, readings, first_seen AS "firstSeen", last_seen AS "lastSeen"
          FROM vigia_sensors`,
        await sql<SensorCount[]>`
          SELECT sensor_id AS id, count(*)::int8 AS readings, min(ts) AS "firstSeen",
            max(ts) AS "lastSeen"
          FROM readings WHERE cursor > ${await summarizedCursor(sql)} GROUP BY sensor_id`,
      );
      // One probe of the primary key per sensor, newest first.
      const lasts = await sql<Reading[]>`
        SELECT last.* FROM unnest(${counts.map((row) => row.id)}::int8[]) AS s(id)
        CROSS JOIN LATERAL (
          SELECT ${sql.unsafe(COLUMNS)} FROM readings WHERE sensor_id = s.id
          ORDER BY ts DESC, seq DESC LIMIT 1) AS last`;
      const last = new Map(lasts.map((reading) => [reading.sensorId, { ...reading }]));
      return counts.map((row) => ({ ...row, last: last.get(row.id) }));
    });
  }

  seriesRows(
    segments: readonly SeriesSegment[],
    options: { bucket: number; sensor?: number | undefined },
  ): Promise<SeriesRow[]> {
    return this.#snapshot((sql) => seriesRows(sql, segments, options));
  }

  async newestCursor(): Promise<number> {
    const sql = this.#pages;
    const [row] = await unavailableAsSuch(sql<{ cursor: number }[]>`
      SELECT ${newestBelow(sql, horizon(sql))} AS cursor`);
    return row!.cursor;
  }

  async check(): Promise<void> {
    await this.#sql`SELECT 1`;
  }

  async sizeBytes(): Promise<number> {
    const [row] = await this.#sql<{ bytes: number }[]>`
      SELECT pg_database_size(current_database())::int8 AS bytes`;
    return row!.bytes;
  }

  /**
   * Partitions for the weeks of `timestamps` from the last ten years up
   * to the next week; a stray clock's readings further off go to the
   * default partition, as they would through a server.
   */
  async prepareFor(timestamps: readonly number[]): Promise<void> {
    const now = Date.now();
    const oldest = now - PREPARE_YEARS * 365 * DAY_MS;
    const newest = now + WEEK_MS;
    const weeks = new Set<number>();
    for (const ts of timestamps) {
      if (ts < oldest || ts >= newest) continue;
      const week = weekStart(ts);
      if (!this.#prepared.has(week)) weeks.add(week);
    }
    if (weeks.size === 0) return;
    await ensureWeeks(this.#sql, [...weeks].sort((a, b) => a - b));
    for (const week of weeks) this.#prepared.add(week);
  }

  openWriter(options: Parameters<Storage["openWriter"]>[0]): Promise<PostgresWriter> {
    return Promise.resolve(new PostgresWriter(this.#sql, options));
  }

  createWriter(options: Parameters<Storage["createWriter"]>[0]): PostgresWriter {
    return new PostgresWriter(this.#sql, options);
  }

  async watch(listener: () => void): Promise<() => Promise<void>> {
    const { unlisten } = await this.#sql.listen(STORED_CHANNEL, () => listener());
    return unlisten;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#partitionTimer);
    clearTimeout(this.#summaryTimer);
    await this.#summarizing;
    await Promise.all([this.#sql.end({ timeout: 5 }), this.#pages.end({ timeout: 5 })]);
  }

  #filters(sql: Sql, filter: ReadingFilter) {
    return sql`
      ${filter.sensor === undefined ? sql`` : sql`AND sensor_id = ${filter.sensor}`}
      ${filter.since === undefined ? sql`` : sql`AND ts >= ${filter.since}`}
      ${filter.until === undefined ? sql`` : sql`AND ts < ${filter.until}`}`;
  }

  #snapshot<T>(body: (sql: Sql) => Promise<T>): Promise<T> {
    return unavailableAsSuch(
      this.#sql.begin(
        "isolation level repeatable read read only",
        (tx) => body(tx as unknown as Sql),
      ) as Promise<T>,
    );
  }
}

/**
 * Errors of the connection rather than of the query (the driver's own
 * codes, SQLSTATE class 08, and a server shutting down or starting) become
 * {@linkcode StoreUnavailableError}.
 */
async function unavailableAsSuch<T>(query: Promise<T>): Promise<T> {
  try {
    return await query;
  } catch (error) {
    const code = String((error as { code?: unknown }).code ?? "");
    if (/^(CONNECT|CONNECTION_|ECONN|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|08|57P0[123])/.test(code)) {
      throw new StoreUnavailableError(error);
    }
    throw error;
  }
}

/** SQL for the newest cursor below `below` (a horizon; 0 for none): where a follower goes on from. */
function newestBelow(sql: Sql, below: ReturnType<Sql>): ReturnType<Sql> {
  return sql`(SELECT coalesce(max(cursor), 0)::int8 FROM readings WHERE cursor < ${below})`;
}

/** A row of a page query: a reading, or nulls when the page is empty, and the newest cursor. */
type PageRow = { [K in keyof StoredReading]: StoredReading[K] | null } & { newest: number | null };

/** The readings of a page query's rows (none when its one row is nulls) and its newest cursor. */
function pageOf(rows: readonly PageRow[]): { readings: StoredReading[]; cursor: number } {
  const readings: StoredReading[] = [];
  for (const row of rows) {
    if (row.cursor === null) continue;
    readings.push({
      cursor: row.cursor,
      sensorId: row.sensorId!,
      seq: row.seq!,
      timestamp: row.timestamp!,
      temperature: row.temperature,
      pressure: row.pressure,
      humidity: row.humidity,
    });
  }
  return { readings, cursor: rows[0]?.newest ?? 0 };
}
