/**
 * The pipeline benchmark's bookkeeping: the Prometheus text of `/metrics`
 * read into numbers, quantiles of the server's freshness histogram over a
 * window, and the tally of lost and duplicated readings from the server's
 * database file, read directly after the server has stopped (paging
 * millions of readings over HTTP would take longer than the run).
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { type MetricSamples, parseMetrics } from "../lib/metrics.ts";

/** Fetches and parses `url` (a `/metrics` endpoint), within 5 s. */
export async function fetchMetrics(url: string): Promise<MetricSamples> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return parseMetrics(await response.text());
}

/** The cumulative buckets of histogram `name`: [upper bound in seconds, count] by bound. */
export function histogramBuckets(samples: MetricSamples, name: string): [number, number][] {
  const buckets: [number, number][] = [];
  const prefix = `${name}_bucket{le="`;
  for (const [key, value] of samples) {
    if (!key.startsWith(prefix)) continue;
    const bound = key.slice(prefix.length, -2);
    buckets.push([bound === "+Inf" ? Infinity : Number(bound), value]);
  }
  return buckets.sort((a, b) => a[0] - b[0]);
}

/**
 * The `q` quantile (0..1) of what a histogram counted between two scrapes,
 * interpolated linearly inside its bucket (as Prometheus'
 * `histogram_quantile` does). Undefined when nothing was counted.
 */
export function windowQuantile(
  before: readonly [number, number][],
  after: readonly [number, number][],
  q: number,
): number | undefined {
  const counts = after.map(([bound, count], i) => [bound, count - (before[i]?.[1] ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total <= 0) return undefined;
  const target = q * total;
  let lower = 0;
  let below = 0;
  for (const [bound, cumulative] of counts) {
    if (cumulative >= target && cumulative > below) {
      if (bound === Infinity) return lower;
      return lower + (bound - lower) * ((target - below) / (cumulative - below));
    }
    lower = bound;
    below = cumulative;
  }
  return lower;
}

/** What the sensors say they did, summed over their processes' `summary` lines. */
export interface SensorTotals {
  readonly sent: number;
  readonly acknowledged: number;
  readonly resent: number;
  readonly dropped: number;
  readonly pending: number;
  /** ERROR 4 (spool full) refusals heard: the gateway's backpressure, not a loss. */
  readonly refused: number;
}

/** How the stored readings compare with what the sensors had acknowledged. */
export interface Tally {
  /** Rows in the readings table. */
  readonly rows: number;
  /** Distinct (sensor, seq) pairs stored. */
  readonly distinct: number;
  /** Acknowledged readings missing from the store (dropped at a sensor included). */
  readonly lost: number;
  /** Rows beyond the first for one (sensor, seq). */
  readonly duplicated: number;
  /** Stored readings no sensor sent (a seq outside what was measured). */
  readonly unexpected: number;
}

/** The sensor ids and what each was asked to measure. */
export interface TallyExpectation {
  readonly firstId: number;
  readonly sensors: number;
  /**
   * Readings per sensor when every sensor ran a `--count` to the end (the
   * exact set 1..count is expected); undefined when the sensors were
   * stopped by a signal, then each sensor's stored seqs must be 1..n
   * without a gap and their total between acknowledged and sent.
   */
  readonly count: number | undefined;
  readonly totals: SensorTotals;
}

/** Per sensor of a store: rows, distinct seqs, lowest and highest seq. */
export type SensorRows = { sensor: number; n: number; d: number; lo: number; hi: number }[];

/** Reads the server's SQLite database (closed by now) and tallies it against `expected`. */
export function tallyDatabase(path: string, expected: TallyExpectation): Tally {
  const db = new DatabaseSync(path, { readOnly: true });
  let rows: SensorRows;
  try {
    rows = db.prepare(
      `SELECT sensor_id AS sensor, COUNT(*) AS n, COUNT(DISTINCT seq) AS d,
         MIN(seq) AS lo, MAX(seq) AS hi
       FROM readings GROUP BY sensor_id`,
    ).all() as typeof rows;
  } finally {
    db.close();
  }
  return tallyRows(rows, expected);
}

/** Tallies a store's per-sensor rows against `expected`. */
export function tallyRows(rows: SensorRows, expected: TallyExpectation): Tally {
  const { firstId, sensors, count, totals } = expected;
  let total = 0;
  let distinct = 0;
  let duplicated = 0;
  let unexpected = 0;
  let gaps = 0;
  for (const row of rows) {
    total += row.n;
    distinct += row.d;
    duplicated += row.n - row.d;
    if (row.sensor < firstId || row.sensor >= firstId + sensors) {
      unexpected += row.d;
      continue;
    }
    const hi = count === undefined ? row.hi : count;
    if (row.lo < 1) unexpected += 1;
    if (row.hi > hi) unexpected += row.hi - hi;
    // Seqs 1..hi all present means d === hi (given lo >= 1 and nothing above hi).
    gaps += Math.max(0, hi - (row.d - (row.hi > hi ? row.hi - hi : 0)));
  }
  let lost: number;
  if (count !== undefined) {
    const missingSensors = sensors -
      rows.filter((row) => row.sensor >= firstId && row.sensor < firstId + sensors).length;
    lost = gaps + missingSensors * count;
  } else {
    // Stopped by a signal: what was acknowledged must all be there, and
    // each sensor's readings must be a gapless prefix of what it sent.
    lost = gaps + Math.max(0, totals.acknowledged - distinct);
    if (distinct > totals.sent) unexpected += distinct - totals.sent;
  }
  return { rows: total, distinct, lost: lost + totals.dropped, duplicated, unexpected };
}
