// @ts-check
/**
 * The dashboard's time windows and how one is loaded, free of the DOM so it
 * is unit-tested under Deno with a stand-in for the API.
 *
 * 15 min shows raw readings (`/api/readings?since=`); 1 h and 24 h show
 * min/avg/max buckets (`/api/series`, 10 s and 4 min buckets: 360 points a
 * line) with the bucket in progress, and later live readings, folded into
 * their bucket.
 *
 * @module
 */

import { QUANTITIES, WindowModel } from "./model.js";
import { EventLog } from "./event_log.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./sensors.js").SensorBook} SensorBook */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** How many out-of-range episodes the list keeps. */
export const EVENTS = 50;

/** The windows the picker offers. */
export const WINDOWS = /** @type {const} */ ({
  "15m": { kind: "raw", spanMs: 15 * MINUTE, bucketMs: 0 },
  "1h": { kind: "bucket", spanMs: HOUR, bucketMs: 10_000 },
  "24h": { kind: "bucket", spanMs: 24 * HOUR, bucketMs: 4 * MINUTE },
});
/** @typedef {keyof typeof WINDOWS} WindowKey */

/**
 * @param {unknown} key
 * @returns {key is WindowKey}
 */
export function isWindowKey(key) {
  return typeof key === "string" && Object.hasOwn(WINDOWS, key);
}

/**
 * The API calls a window needs (`api.js` has the real ones).
 * @typedef {Pick<typeof import("./api.js"), "fetchSensors" | "fetchRecent" | "fetchSeries" | "serverNow">} WindowApi
 */

/**
 * A window ready to show: its points, the out-of-range episodes within it,
 * the storage cursor to follow live from, and its newest reading's time.
 * @typedef {{model: WindowModel, events: EventLog, cursor: number, newest: number}} LoadedWindow
 */

/**
 * Loads window `key`: history and sensors (into `book`), judged against
 * `thresholds` (which may still be arriving).
 * @param {WindowKey} key
 * @param {{api: WindowApi, book: SensorBook, thresholds: Thresholds | Promise<Thresholds>}} context
 * @param {AbortSignal} signal
 * @returns {Promise<LoadedWindow>}
 */
export async function loadWindow(key, { api, book, thresholds }, signal) {
  const spec = WINDOWS[key];
  const now = api.serverNow();
  // The events list shows the window on screen (then grows live).
  const events = new EventLog(EVENTS);
  if (spec.kind === "raw") {
    const [sensors, recent, ranges] = await Promise.all([
      api.fetchSensors(signal),
      api.fetchRecent(now - spec.spanMs, { signal }),
      thresholds,
    ]);
    const model = new WindowModel({ kind: "raw", spanMs: spec.spanMs }, ranges);
    for (const sensor of sensors) book.addSummary(sensor);
    // Oldest first, as they happened (the events list follows episodes).
    const newest = addReadings(recent.readings.reverse(), { model, events, book, ranges, now });
    return { model, events, cursor: recent.cursor, newest };
  }
  // Whole buckets from the series, laid on bucket boundaries; the bucket in
  // progress from raw readings, folded in like live ones, and the live feed
  // continues from that request's cursor. (A reading stored while these run
  // with a time before `until` — a gateway draining an old backlog at that
  // very moment — is in neither; it shows after the next reload.)
  const until = Math.floor(now / spec.bucketMs) * spec.bucketMs;
  const [series, sensors, recent, ranges] = await Promise.all([
    api.fetchSeries(
      { sinceMs: until - spec.spanMs, untilMs: until, bucketMs: spec.bucketMs },
      signal,
    ),
    api.fetchSensors(signal),
    api.fetchRecent(until, { signal }),
    thresholds,
  ]);
  const model = new WindowModel({
    kind: "bucket",
    spanMs: spec.spanMs,
    bucketMs: series.bucketMs,
    origin: series.sinceMs,
  }, ranges);
  for (const { id, points } of series.series) {
    for (const point of points) {
      for (const quantity of QUANTITIES) {
        const stats = point[quantity];
        model.addBucket(id, point.t, quantity, stats, stats?.count ?? 0);
        if (stats) events.observeBucket(id, point.t, quantity, stats, ranges, series.bucketMs);
      }
    }
  }
  for (const sensor of sensors) book.addSummary(sensor);
  const newest = addReadings(recent.readings.reverse(), { model, events, book, ranges, now });
  return { model, events, cursor: recent.cursor, newest };
}

/**
 * Records readings (oldest first) in the book, the events and, when within
 * the window ending at `now`, the model. Returns the newest reading's time
 * (-Infinity for none).
 * @param {readonly Reading[]} readings
 * @param {{model: WindowModel, events: EventLog, book: SensorBook, ranges: Thresholds, now: number}} target
 */
export function addReadings(readings, { model, events, book, ranges, now }) {
  const oldest = now - model.spanMs - model.bucketMs;
  let newest = -Infinity;
  for (const reading of readings) {
    book.observe(reading);
    events.observe(reading, ranges);
    if (reading.t > newest) newest = reading.t;
    if (reading.t >= oldest) model.addReading(reading);
  }
  return newest;
}

/**
 * The longest gap (ms) sensor `id`'s line bridges before it breaks to show
 * an outage: the silence that makes the sensor stale, but at least 1/60 of
 * the window (15 s in 15 min: a sensor that slowed down still draws a
 * line) and two and a half buckets.
 * @param {WindowModel} model
 * @param {SensorBook} book
 * @param {number} id
 */
export function longestGap(model, book, id) {
  return Math.max(book.staleAfter(id), model.spanMs / 60, 2.5 * model.bucketMs);
}
