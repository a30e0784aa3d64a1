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
import type { SeriesRow, Storage } from "./storage.ts";
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
export async function seriesResponse(
  store: Storage,
  params: URLSearchParams,
  now: number,
): Promise<string> {
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
  const rows = await store.seriesRows(planSegments(since, until, bucketMs), {
    bucket: bucketMs,
    sensor,
  });
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
    const id = row[0];
    points.push(
      `{"t":"${iso(row[1])}","count":${row[2]},"temperature":${quantityJson(row, 3)},"pressure":${
        quantityJson(row, 7)
      },"humidity":${quantityJson(row, 11)}}`,
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

/** Indexes of each quantity's count in a {@linkcode SeriesRow}; min, max and sum follow. */
const QUANTITY_AT = [3, 7, 11] as const;

/** A quantity's `{"min","avg","max"}` from its count at `at`; all `null` without a value. */
function quantityJson(row: SeriesRow, at: number): string {
  const count = row[at] as number;
  if (count === 0) return NO_VALUE;
  return `{"min":${(row[at + 1] as number) / 100},"avg":${
    Math.round((row[at + 3] as number) / count) / 100
  },"max":${(row[at + 2] as number) / 100}}`;
}

const NO_VALUE = '{"min":null,"avg":null,"max":null}';

/** Adds `other` (the same sensor and bucket) into `row`. */
function addRow(row: SeriesRow, other: SeriesRow): void {
  row[2] += other[2];
  for (const at of QUANTITY_AT) {
    (row[at] as number) += other[at] as number;
    row[at + 1] = lesser(row[at + 1] as number | null, other[at + 1] as number | null);
    row[at + 2] = greater(row[at + 2] as number | null, other[at + 2] as number | null);
    (row[at + 3] as number) += other[at + 3] as number;
  }
}

function lesser(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function greater(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}
