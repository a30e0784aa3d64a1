/**
 * The two statements that store a group of readings in PostgreSQL, one
 * transaction each (postgres_writer.ts chooses):
 *
 * - {@linkcode copyRows}: `COPY … FROM STDIN` straight into `readings`.
 *   The cheapest way in, for the server and for PostgreSQL, but all or
 *   nothing: one reading already there fails the whole group with a
 *   unique violation ({@linkcode isUniqueViolation}).
 * - {@linkcode upsertRows}: the readings as arrays (`unnest`) into
 *   `INSERT … ON CONFLICT DO NOTHING`, which skips the readings already
 *   there and says which ones it stored.
 *
 * Both give row `n` (1-based, in the order given) the cursor
 * `(transaction id << 17) + n` (docs/postgres.md: why `after=` never
 * skips a reading), and both send `NOTIFY vigia_readings` with the commit.
 * Rows must come sorted by identity `(sensor, ts, seq)` and, for COPY,
 * without repeats: every transaction then takes its key locks in the same
 * order, so two instances storing overlapping groups wait for each other
 * instead of deadlocking. Why COPY first: docs/postgres.md.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { Sql } from "./postgres_schema.ts";

/** Bits of a cursor below the transaction id: the row's position in its statement. */
export const POSITION_BITS = 17;
/** Most rows one statement may insert (positions 1 .. 2^17 − 1). */
export const MAX_ROWS = (1 << POSITION_BITS) - 1;
/** The channel `/api/live` of every instance listens on. */
export const STORED_CHANNEL = "vigia_readings";

/** Whether `error` is PostgreSQL's unique violation: a reading was already there. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === "23505";
}

/**
 * Stores every one of `rows` (sorted, no two alike) in one transaction, or
 * none: throws a unique violation if one is already stored.
 */
export async function copyRows(sql: Sql, rows: readonly Reading[]): Promise<void> {
  if (rows.length > MAX_ROWS) throw new RangeError(`Cannot store ${rows.length} rows at once`);
  await sql.begin(async (tx) => {
    // Takes the transaction's id (assigning it now) and queues the NOTIFY for the commit.
    const [row] = await tx<{ xid: number }[]>`
      SELECT pg_current_xact_id()::text::int8 AS xid, pg_notify(${STORED_CHANNEL}, '')`;
    const stream = await tx`
      COPY readings (cursor, sensor_id, seq, ts, temperature, pressure, humidity)
      FROM STDIN`.writable();
    const done = new Promise<void>((resolve, reject) => {
      stream.on("error", reject);
      stream.on("finish", resolve);
    });
    stream.end(copyText(row!.xid * 2 ** POSITION_BITS, rows));
    await done;
  });
}

/** `rows` in COPY's text format, the cursor of row n being `base + n`. */
export function copyText(base: number, rows: readonly Reading[]): string {
  const lines: string[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    lines[i] = `${base + i + 1}\t${r.sensorId}\t${r.seq}\t${r.timestamp}\t${
      r.temperature ?? "\\N"
    }\t${r.pressure ?? "\\N"}\t${r.humidity ?? "\\N"}\n`;
  }
  return lines.join("");
}

/**
 * Stores those of `rows` (sorted) that are not there yet, in one
 * transaction; returns how many it stored per batch (`batchOf[i]` is the
 * batch of `rows[i]`, one of `0 .. batches − 1`).
 */
export async function upsertRows(
  sql: Sql,
  rows: readonly Reading[],
  batchOf: readonly number[],
  batches: number,
): Promise<number[]> {
  if (rows.length > MAX_ROWS) throw new RangeError(`Cannot store ${rows.length} rows at once`);
  const stored = await sql<{ batch: number; stored: number }[]>`
    WITH input AS (
      SELECT * FROM unnest(
        ${rows.map((r) => r.sensorId)}::int8[], ${rows.map((r) => r.seq)}::int8[],
        ${rows.map((r) => r.timestamp)}::int8[], ${rows.map((r) => r.temperature)}::int4[],
        ${rows.map((r) => r.pressure)}::int4[], ${rows.map((r) => r.humidity)}::int4[],
        ${batchOf as number[]}::int4[]
      ) WITH ORDINALITY AS r(sensor_id, seq, ts, temperature, pressure, humidity, batch, n)
    ), inserted AS (
      INSERT INTO readings (cursor, sensor_id, seq, ts, temperature, pressure, humidity)
      SELECT (pg_current_xact_id()::text::int8 << ${POSITION_BITS}) + n,
        sensor_id, seq, ts, temperature, pressure, humidity
      FROM input ORDER BY n
      ON CONFLICT DO NOTHING
      RETURNING cursor & ${MAX_ROWS} AS n
    )
    SELECT input.batch, count(*)::int8 AS stored,
      pg_notify(${STORED_CHANNEL}, '') IS NULL AS notified
    FROM inserted JOIN input USING (n) GROUP BY input.batch`;
  const counts = new Array<number>(batches).fill(0);
  for (const { batch, stored: count } of stored) counts[batch] = count;
  return counts;
}
