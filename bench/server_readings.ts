/**
 * The readings of the server benchmark's large store: 100 sensors at
 * 1 Hz from a fixed start, reading number `k` the same in JavaScript
 * ({@linkcode readingAt}, for SQLite and for POSTs) and in SQL
 * ({@linkcode READINGS_SQL}, for a PostgreSQL store built in bulk), and the
 * UTC weeks they span ({@linkcode loadWeeks}).
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import type { LoadWeek } from "./postgres.ts";
import { WEEK_MS, weekStart } from "../server/postgres_partitions.ts";

export const SENSORS = 100;
export const START: number = Date.parse("2026-11-20T00:00:00.000Z");

/** Reading number `k` of 100 sensors at 1 Hz: sensor k % 100, one second per round. */
export function readingAt(k: number, start = START): Reading {
  const sensorId = 1 + (k % SENSORS);
  const seq = Math.floor(k / SENSORS);
  const phase = (seq / 600 + sensorId) % (2 * Math.PI);
  return {
    sensorId,
    seq,
    timestamp: start + seq * 1000,
    temperature: 2000 + Math.round(500 * Math.sin(phase)),
    pressure: 101325 + Math.round(300 * Math.cos(phase)),
    humidity: 4500 + ((seq * 7 + sensorId) % 1000),
  };
}

/**
 * {@linkcode readingAt} for `k` in `generate_series($1, $2)`, with cursor
 * `k + 1`, as the columns of `readings` (bench/postgres.ts `loadPostgres`).
 * `floor(x + 0.5)` is `Math.round`; `mod` keeps the phase's remainder.
 */
export const READINGS_SQL = `
  SELECT k + 1, 1 + k % ${SENSORS}, k / ${SENSORS}, ${START} + (k / ${SENSORS}) * 1000,
    (2000 + floor(500 * sin(phase) + 0.5))::int,
    (101325 + floor(300 * cos(phase) + 0.5))::int,
    (4500 + ((k / ${SENSORS}) * 7 + 1 + k % ${SENSORS}) % 1000)::int
  FROM generate_series($1::int8, $2::int8) AS k,
    LATERAL (SELECT (k / ${SENSORS})::float8 / 600 + (1 + k % ${SENSORS}) AS x) AS p,
    LATERAL (SELECT x - 2 * pi() * floor(x / (2 * pi())) AS phase) AS q`;

/** The UTC weeks (from Monday) that readings `0…rows - 1` span, each with its readings' numbers. */
export function loadWeeks(rows: number): LoadWeek[] {
  const weeks: LoadWeek[] = [];
  for (let from = 0; from < rows;) {
    const start = weekStart(readingAt(from).timestamp);
    const to = Math.min(rows, Math.ceil((start + WEEK_MS - START) / 1000) * SENSORS);
    weeks.push({ start, from, to });
    from = to;
  }
  return weeks;
}
