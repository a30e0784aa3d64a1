/**
 * How the dashboard builds a window (static/windows.js) from the API, under
 * Deno with a stand-in for the four calls it makes, and how the window
 * model, the events and the sensor book treat a quantity the sensor does
 * not measure (`null`): no point, a break in the line, no out-of-range
 * judgement. The page itself is tested in Chromium by dashboard_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Reading, WindowModel } from "../static/model.js";
import { EventLog } from "../static/event_log.js";
import { SensorBook } from "../static/sensors.js";
import { addReadings, loadWindow, longestGap, type WindowApi } from "../static/windows.js";
import type { SeriesPoint } from "../static/api.js";
import { pageReading } from "./_reading.ts";

const THRESHOLDS = {
  temperature: { min: -40, max: 85, unit: "°C" },
  pressure: { min: 800, max: 1200, unit: "hPa" },
  humidity: { min: 0, max: 100, unit: "%" },
} as const;

const NOW = Date.UTC(2026, 10, 24, 10, 0, 0);

/** The API as loadWindow sees it, answering from fixed data and recording what was asked. */
function standIn(recent: Reading[], series: { id: number; points: SeriesPoint[] }[] = []) {
  const asked: string[] = [];
  const api: WindowApi = {
    serverNow: () => NOW,
    fetchSensors: () => {
      asked.push("sensors");
      return Promise.resolve([]);
    },
    fetchRecent: (sinceMs) => {
      asked.push(`recent since ${(NOW - sinceMs) / 1000} s ago`);
      const newestFirst = recent.filter((r) => r.t >= sinceMs).sort((a, b) => b.t - a.t);
      return Promise.resolve({ readings: newestFirst, cursor: 99, truncated: false });
    },
    fetchSeries: (window) => {
      asked.push(`series of ${window.bucketMs / 1000} s buckets`);
      return Promise.resolve({ sinceMs: window.sinceMs, bucketMs: window.bucketMs, series });
    },
  };
  return { api, asked };
}

Deno.test("loadWindow() builds the 15 min window from raw readings, nulls as line breaks", async () => {
  const readings = [
    pageReading(1, 1, NOW - 30_000),
    pageReading(1, 2, NOW - 20_000, { temperature: null }),
    pageReading(1, 3, NOW - 10_000, { temperature: 99 }),
    pageReading(2, 1, NOW - 10_000, { temperature: null, humidity: null }),
  ];
  const { api, asked } = standIn(readings);
  const book = new SensorBook();
  const loaded = await loadWindow(
    "15m",
    { api, book, thresholds: Promise.resolve(THRESHOLDS) },
    new AbortController().signal,
  );
  assert.deepEqual(asked, ["sensors", "recent since 900 s ago"]);
  assert.equal(loaded.cursor, 99);
  assert.equal(loaded.newest, NOW - 10_000);
  const one = loaded.model.track(1).points;
  assert.deepEqual(one.temperature.map((p) => p.y), [21.5, null, 99]);
  assert.deepEqual(one.pressure.map((p) => p.y), [1013.25, 1013.25, 1013.25]);
  const two = loaded.model.track(2).points;
  assert.deepEqual(two.temperature.map((p) => p.y), [null]);
  assert.deepEqual(two.pressure.map((p) => p.y), [1013.25]);
  assert.deepEqual(
    loaded.events.events.map((e) => `${e.id} ${e.quantity} ${e.bound}`),
    ["1 temperature above"],
  );
  assert.deepEqual(book.ids, [1, 2]);
  assert.equal(book.get(2)?.last?.temperature, null, "the table shows what was measured");
});

Deno.test("loadWindow() builds the 24 h window from series buckets plus the bucket in progress", async () => {
  const bucketMs = 4 * 60_000;
  const until = Math.floor(NOW / bucketMs) * bucketMs;
  const stats = { min: 20, avg: 21, max: 22, count: 2 };
  const series = [{
    id: 5,
    points: [
      { t: until - 2 * bucketMs, count: 2, temperature: stats, pressure: null, humidity: stats },
      {
        t: until - bucketMs,
        count: 2,
        temperature: { ...stats, max: 90 },
        pressure: null,
        humidity: null,
      },
    ],
  }];
  const inProgress = [pageReading(5, 9, until + 1000, { pressure: null, humidity: 50 })];
  const { api, asked } = standIn(inProgress, series);
  const loaded = await loadWindow(
    "24h",
    { api, book: new SensorBook(), thresholds: THRESHOLDS },
    new AbortController().signal,
  );
  assert.deepEqual(asked.sort(), ["recent since 0 s ago", "sensors", "series of 240 s buckets"]);
  const points = loaded.model.track(5).points;
  assert.deepEqual(points.temperature.map((p) => [p.y, p.count]), [[21, 2], [21, 2], [21.5, 1]]);
  assert.deepEqual(points.pressure.map((p) => [p.y, p.count]), [[null, 0], [null, 0], [null, 0]]);
  assert.deepEqual(points.humidity.map((p) => [p.y, p.count]), [[21, 2], [null, 0], [50, 1]]);
  assert.deepEqual(
    loaded.events.events.map((e) => `${e.quantity} ${e.bound} ${e.peak}`),
    ["temperature above 90"],
  );
});

Deno.test("a bucket held open by a null is filled by the next measured value", () => {
  const model = new WindowModel(
    { kind: "bucket", spanMs: 3_600_000, bucketMs: 10_000, origin: NOW },
    THRESHOLDS,
  );
  model.addReading(pageReading(1, 1, NOW + 1000, { temperature: null }));
  model.addReading(pageReading(1, 2, NOW + 2000, { temperature: null }));
  assert.deepEqual(model.track(1).points.temperature, [{ x: NOW, y: null, count: 0 }]);
  model.addReading(pageReading(1, 3, NOW + 3000, { temperature: 95 }));
  model.addReading(pageReading(1, 4, NOW + 4000, { temperature: null }));
  assert.deepEqual(model.track(1).points.temperature, [
    { x: NOW, y: 95, min: 95, max: 95, count: 1 },
  ]);
  assert.equal(model.track(1).marks.temperature.length, 1);
  model.addBucket(1, NOW + 10_000, "pressure", null, 0);
  assert.deepEqual(model.track(1).points.pressure.at(-1), { x: NOW + 10_000, y: null, count: 0 });
});

Deno.test("a null neither opens nor closes an out-of-range episode", () => {
  const log = new EventLog();
  log.observe(pageReading(3, 1, NOW, { humidity: 120 }), THRESHOLDS);
  log.observe(pageReading(3, 2, NOW + 1000, { humidity: null }), THRESHOLDS);
  log.observe(pageReading(3, 3, NOW + 2000, { humidity: 130 }), THRESHOLDS);
  assert.deepEqual(
    log.events.map((e) => [e.quantity, e.count, e.peak]),
    [["humidity", 2, 130]],
    "one episode of two out-of-range values",
  );
  assert.equal(log.observe(pageReading(4, 1, NOW, { temperature: null }), THRESHOLDS), false);
});

Deno.test("addReadings() keeps the window's points and reports the newest time", () => {
  const model = new WindowModel({ kind: "raw", spanMs: 60_000 }, THRESHOLDS);
  const events = new EventLog();
  const book = new SensorBook();
  const newest = addReadings(
    [
      pageReading(1, 1, NOW - 120_000),
      pageReading(1, 2, NOW - 5000),
      pageReading(2, 1, NOW - 7000),
    ],
    { model, events, book, ranges: THRESHOLDS, now: NOW },
  );
  assert.equal(newest, NOW - 5000);
  assert.equal(model.pointCount("temperature"), 2, "the old reading is outside the window");
  assert.deepEqual(book.ids, [1, 2], "but its sensor is known");
});

Deno.test("longestGap() bridges a sensor's normal silence, 1/60 of the window and 2.5 buckets", () => {
  const book = new SensorBook();
  for (let seq = 0; seq < 5; seq++) book.observe(pageReading(1, seq, NOW + seq * 20_000));
  const raw = new WindowModel({ kind: "raw", spanMs: 15 * 60_000 }, THRESHOLDS);
  assert.equal(longestGap(raw, book, 1), 60_000, "stale after 3 intervals of 20 s");
  assert.equal(longestGap(raw, book, 2), 30_000, "unknown: 3 default intervals of 10 s");
  const day = new WindowModel(
    { kind: "bucket", spanMs: 24 * 3_600_000, bucketMs: 240_000 },
    THRESHOLDS,
  );
  assert.equal(longestGap(day, book, 1), 24 * 60_000, "1/60 of a day");
});
