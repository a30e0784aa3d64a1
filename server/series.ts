/**
 * `GET /api/series`: min, average and max per sensor per time bucket.
 *
 * Buckets are aligned to the epoch (a bucket of 60 s starts on the minute),
 * so a chart that slides its window keeps stable points. The window is cut
 * into segments: the aligned middle comes from the coarsest rollup width
 * that divides the bucket, the unaligned edges from finer widths and finally
 * from raw readings. A day of 100 sensors at 1 Hz (8.6 million readings)
 * is then about 150,000 rollup rows, not 8.6 million readings.
 *
 * @module
 */

import { HttpError } from "./http.ts";
import { integerParam, sensorParam, timeParam } from "./params.ts";
import { ROLLUP_WIDTHS } from "./schema.ts";
import type { SeriesRow, Store } from "./store.ts";
import { bucketStart } from "./summary.ts";

/** Most buckets one request may ask for. */
export const MAX_BUCKETS = 10_000;
/** Default window: the last hour. */
const DEFAULT_WINDOW_MS = 3_600_000;
/** A bucket that no rollup width divides reads raw readings: only for short windows. */
const MAX_RAW_WINDOW_MS = 3_600_000;

/** Round bucket widths in seconds for the default: window / 360 rounded up to one of these. */
const ROUND_WIDTHS = [
  1,
  2,
  5,
  10,
  20,
  30,
  60,
  120,
  300,
  600,
  900,
  1200,
  1800,
  3600,
  7200,
  10800,
  21600,
  43200,
  86400,
] as const;

/** One part of a window and where it is read from (`width` 0: raw readings). */
export interface Segment {
  readonly width: number;
  readonly from: number;
  readonly to: number;
}

/** The default bucket, in seconds, for a window of `windowMs`. */
export function defaultBucketSeconds(windowMs: number): number {
  const target = Math.max(1, Math.ceil(windowMs / 360 / 1000));
  return ROUND_WIDTHS.find((width) => width >= target) ?? Math.ceil(target / 86400) * 86400;
}

/** Cuts `[since, until)` into segments for buckets of `bucketMs` (see the module doc). */
export function planSegments(since: number, until: number, bucketMs: number): Segment[] {
  const widths = ROLLUP_WIDTHS.filter((width) => bucketMs % width === 0);
  const segments: Segment[] = [];
  const cover = (from: number, to: number, level: number): void => {
    if (from >= to) return;
    if (level < 0) {
      segments.push({ width: 0, from, to });
      return;
    }
    const width = widths[level]!;
    const start = from === bucketStart(from, width) ? from : bucketStart(from, width) + width;
    const end = bucketStart(to, width);
    if (start >= end) return cover(from, to, level - 1);
    cover(from, start, level - 1);
    segments.push({ width, from: start, to: end });
    cover(end, to, level - 1);
  };
  cover(since, until, widths.length - 1);
  return segments;
}

/** Parses the query, reads the store and answers the JSON of docs/http-api.md. */
export function seriesResponse(store: Store, params: URLSearchParams, now: number): string {
  const untilParam = timeParam(params, "until");
  const sinceParam = timeParam(params, "since");
  const until = untilParam ?? now;
  const since = sinceParam ?? until - DEFAULT_WINDOW_MS;
  if (since >= until) {
    throw new HttpError(400, 'Cannot compute series: "since" must be before "until"');
  }
  const window = until - since;
  const bucket = integerParam(params, "bucket", { min: 1, max: 100 * 365 * 86400 }) ??
    defaultBucketSeconds(window);
  const bucketMs = bucket * 1000;
  const buckets = Math.ceil(window / bucketMs) + 1;
  if (buckets > MAX_BUCKETS) {
    throw new HttpError(
      400,
      `Cannot compute series: ${buckets} buckets of ${bucket} s, at most ${MAX_BUCKETS}`,
    );
  }
  if (bucketMs % ROLLUP_WIDTHS[0] !== 0 && window > MAX_RAW_WINDOW_MS) {
    throw new HttpError(
      400,
      `Cannot compute series: a bucket that is not a multiple of 10 s needs a window of at most 1 h, got ${bucket} s over ${
        window / 1000
      } s`,
    );
  }
  const sensor = sensorParam(params);
  const rows = store.seriesRows(planSegments(since, until, bucketMs), { bucket: bucketMs, sensor });
  return seriesJson({ since, until, bucket }, rows);
}

/**
 * The JSON of docs/http-api.md from rows in any order: sorted by sensor and
 * bucket, rows of one bucket (split across segments) added up, then written
 * as strings directly (a day of 100 sensors is 28,800 points).
 */
function seriesJson(
  window: { since: number; until: number; bucket: number },
  rows: SeriesRow[],
): string {
  rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // Every sensor has the same bucket starts: format each once.
  const times = new Map<number, string>();
  const iso = (ms: number) => {
    let text = times.get(ms);
    if (text === undefined) {
      text = new Date(ms).toISOString();
      times.set(ms, text);
    }
    return text;
  };
  const series: string[] = [];
  let points: string[] = [];
  for (let i = 0; i < rows.length;) {
    let row = rows[i]!;
    let next = i + 1;
    if (next < rows.length && rows[next]![0] === row[0] && rows[next]![1] === row[1]) {
      row = [...row];
      for (; next < rows.length && rows[next]![0] === row[0] && rows[next]![1] === row[1]; next++) {
        addRow(row, rows[next]!);
      }
    }
    const [id, t, count, tMin, tMax, tSum, pMin, pMax, pSum, hMin, hMax, hSum] = row;
    points.push(
      `{"t":"${iso(t)}","count":${count},"temperature":{"min":${tMin / 100},"avg":${
        Math.round(tSum / count) / 100
      },"max":${tMax / 100}},"pressure":{"min":${pMin / 100},"avg":${
        Math.round(pSum / count) / 100
      },"max":${pMax / 100}},"humidity":{"min":${hMin / 100},"avg":${
        Math.round(hSum / count) / 100
      },"max":${hMax / 100}}}`,
    );
    if (next === rows.length || rows[next]![0] !== id) {
      series.push(`{"id":${id},"points":[${points.join(",")}]}`);
      points = [];
    }
    i = next;
  }
  return `{"since":"${iso(window.since)}","until":"${
    iso(window.until)
  }","bucket":${window.bucket},"series":[${series.join(",")}]}`;
}

/** Adds `other` (the same sensor and bucket) into `row`. */
function addRow(row: SeriesRow, other: SeriesRow): void {
  row[2] += other[2];
  for (const at of [3, 6, 9]) {
    row[at] = Math.min(row[at]!, other[at]!);
    row[at + 1] = Math.max(row[at + 1]!, other[at + 1]!);
    row[at + 2]! += other[at + 2]!;
  }
}
