/**
 * The dashboard's DOM-free modules (static/model.js, sensors.js, event_log.js, format.js,
 * shared/backoff.js) under Deno: window bounds, bucket folding, duplicate
 * readings, stale detection, the events list and time ticks. The page as a
 * whole is tested in a real browser by dashboard_test.ts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { judge, type Reading, WindowModel } from "../static/model.js";
import { upperBound } from "../static/points.js";
import {
  DEFAULT_INTERVAL_MS,
  MIN_STALE_MS,
  SensorBook,
  STALE_INTERVALS,
} from "../static/sensors.js";
import { EventLog } from "../static/event_log.js";
import { formatAgo, formatDuration, timeTicks } from "../static/format.js";
import { backoffDelay, retry } from "../static/shared/backoff.js";
import { pageReading } from "./_reading.ts";

const THRESHOLDS = {
  temperature: { min: -40, max: 85, unit: "°C" },
  pressure: { min: 800, max: 1200, unit: "hPa" },
  humidity: { min: 0, max: 100, unit: "%" },
} as const;

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);

/** Sensor `id`'s reading `seq` at `t` with `temperature`, as the page keeps it. */
const reading = (id: number, seq: number, t: number, temperature = 21.5): Reading =>
  pageReading(id, seq, t, { temperature });

Deno.test("judge() treats the safe range as inclusive", () => {
  const range = { min: 0, max: 100 };
  assert.equal(judge(100, range), undefined);
  assert.equal(judge(0, range), undefined);
  assert.equal(judge(100.01, range), "above");
  assert.equal(judge(-0.01, range), "below");
  assert.equal(judge(1e9, undefined), undefined);
});

Deno.test("upperBound() finds the insertion point after equal x", () => {
  const points = [1, 2, 2, 5].map((x) => ({ x }));
  const cases: [number, number][] = [[0, 0], [1, 1], [2, 3], [3, 3], [5, 4], [9, 4]];
  for (const [x, expected] of cases) assert.equal(upperBound(points, x), expected, `x=${x}`);
  assert.equal(upperBound([], 3), 0);
});

Deno.test("WindowModel raw keeps points sorted, drops repeats and marks out-of-range values", () => {
  const model = new WindowModel({ kind: "raw", spanMs: 15 * 60_000 }, THRESHOLDS);
  const points = model.track(7).points.temperature;
  assert.equal(model.addReading(reading(7, 2, T0 + 2000)), true);
  assert.equal(model.addReading(reading(7, 1, T0 + 1000)), true, "late reading");
  assert.equal(model.addReading(reading(7, 3, T0 + 3000, 91.2)), true);
  assert.equal(model.addReading(reading(7, 2, T0 + 2000)), false, "same reading again");
  assert.equal(model.addReading(reading(7, 9, T0 + 2000)), true, "same time, other seq");
  assert.strictEqual(model.track(7).points.temperature, points, "the chart's array is kept");
  assert.deepEqual(points.map((p) => p.x - T0), [1000, 2000, 2000, 3000]);
  assert.deepEqual(model.track(7).marks.temperature, [
    { x: T0 + 3000, y: 91.2, id: 7, bound: "above", limit: 85 },
  ]);
  assert.equal(model.track(7).marks.pressure.length, 0);
  assert.equal(model.pointCount("humidity"), 4);
});

Deno.test("WindowModel.prune() drops what left the window, in place", () => {
  const model = new WindowModel({ kind: "raw", spanMs: 60_000 }, THRESHOLDS);
  for (let i = 0; i < 10; i++) model.addReading(reading(1, i, T0 + i * 10_000, i === 0 ? 99 : 20));
  const points = model.track(1).points.pressure;
  model.prune(T0 + 100_000);
  assert.strictEqual(model.track(1).points.pressure, points);
  assert.deepEqual(points.map((p) => (p.x - T0) / 1000), [40, 50, 60, 70, 80, 90]);
  assert.equal(model.track(1).marks.temperature.length, 0, "the old mark went too");
});

Deno.test("WindowModel bounds each line to maxPoints, oldest dropped", () => {
  const model = new WindowModel({ kind: "raw", spanMs: 3_600_000, maxPoints: 100 }, THRESHOLDS);
  for (let i = 0; i < 1000; i++) model.addReading(reading(1, i, T0 + i));
  const points = model.track(1).points.temperature;
  assert.equal(points.length, 100);
  assert.equal(points[0]?.x, T0 + 900);
});

Deno.test("WindowModel bucket folds readings into min/avg/max from the series origin", () => {
  const origin = T0 + 5000; // not on a round bucket: buckets follow the origin
  const model = new WindowModel(
    { kind: "bucket", spanMs: 3_600_000, bucketMs: 10_000, origin },
    THRESHOLDS,
  );
  assert.equal(model.bucketStart(origin + 19_999), origin + 10_000);
  assert.equal(model.bucketStart(origin - 1), origin - 10_000);
  model.addBucket(3, origin, "temperature", { min: 20, avg: 21, max: 22 }, 2);
  model.addReading(reading(3, 10, origin + 4000, 24));
  model.addReading(reading(3, 11, origin + 12_000, 90));
  const [first, second] = model.track(3).points.temperature;
  assert.deepEqual(first, { x: origin, y: (21 * 2 + 24) / 3, min: 20, max: 24, count: 3 });
  assert.deepEqual(second, { x: origin + 10_000, y: 90, min: 90, max: 90, count: 1 });
  assert.deepEqual(model.track(3).marks.temperature, [
    { x: origin + 10_000, y: 90, id: 3, bound: "above", limit: 85 },
  ]);
  model.addReading(reading(3, 12, origin + 13_000, 95));
  assert.equal(model.track(3).marks.temperature.length, 1, "one mark per bucket");
  assert.equal(model.track(3).marks.temperature[0]?.y, 95, "the most extreme value");
});

Deno.test("WindowModel bucket marks a series bucket whose min or max is out of range", () => {
  const model = new WindowModel(
    { kind: "bucket", spanMs: 3_600_000, bucketMs: 10_000 },
    THRESHOLDS,
  );
  model.addBucket(1, T0, "humidity", { min: -3, avg: 40, max: 60 }, 10);
  assert.deepEqual(model.track(1).marks.humidity, [
    { x: T0, y: -3, id: 1, bound: "below", limit: 0 },
  ]);
});

Deno.test("SensorBook estimates the interval as the median gap and calls silence stale", () => {
  const book = new SensorBook();
  for (const [seq, s] of [0, 2, 4, 6, 30, 32].entries()) {
    book.observe(reading(1, seq, T0 + s * 1000));
  }
  assert.equal(book.intervalOf(1), 2000, "one long gap does not move the median");
  assert.equal(book.staleAfter(1), STALE_INTERVALS * 2000);
  const last = T0 + 32_000;
  assert.equal(book.isStale(1, last + 6000), false);
  assert.equal(book.isStale(1, last + 6001), true);
  book.observe(reading(1, 1, T0 + 1000));
  assert.equal(book.get(1)?.lastSeen, last, "a late reading does not move last seen back");
  assert.equal(book.get(1)?.last?.seq, 5);
});

Deno.test("SensorBook falls back to the lifetime average, then the default interval", () => {
  const book = new SensorBook();
  book.addSummary({
    id: 4,
    readings: 11,
    firstSeen: T0,
    lastSeen: T0 + 50_000,
    last: reading(4, 10, T0 + 50_000),
  });
  assert.equal(book.intervalOf(4), 5000);
  book.observe(reading(9, 1, T0));
  assert.equal(book.intervalOf(9), undefined);
  assert.equal(book.staleAfter(9), STALE_INTERVALS * DEFAULT_INTERVAL_MS);
  book.observe(reading(8, 1, T0));
  book.observe(reading(8, 2, T0 + 100));
  assert.equal(book.staleAfter(8), MIN_STALE_MS, "never sooner than the floor");
  assert.deepEqual(book.ids, [4, 8, 9]);
  assert.equal(book.isStale(123, T0), true, "an unknown sensor is stale");
});

Deno.test("EventLog makes one episode of consecutive out-of-range values", () => {
  const log = new EventLog();
  const values = [20, 86, 90, 87, 20, 88, 21];
  for (const [seq, temperature] of values.entries()) {
    log.observe(reading(3, seq, T0 + seq * 1000, temperature), THRESHOLDS);
  }
  assert.deepEqual(
    log.events.map((e) => [e.id, e.quantity, e.bound, e.count, e.start - T0, e.t - T0, e.peak]),
    [
      [3, "temperature", "above", 1, 5000, 5000, 88],
      [3, "temperature", "above", 3, 1000, 3000, 90],
    ],
  );
  assert.equal(log.events[1]?.value, 87, "the latest value");
  assert.equal(log.events[1]?.limit, 85);
  assert.equal(
    log.observe(reading(3, 5, T0 + 5000, 88), THRESHOLDS),
    false,
    "a reading seen twice counts once",
  );
});

Deno.test("EventLog keeps episodes apart per sensor, quantity and side", () => {
  const log = new EventLog();
  log.observe(
    { id: 1, seq: 1, t: T0, temperature: -41, pressure: 1013, humidity: 101 },
    THRESHOLDS,
  );
  log.observe(
    { id: 1, seq: 2, t: T0 + 1, temperature: 86, pressure: 1013, humidity: 102 },
    THRESHOLDS,
  );
  log.observe(reading(2, 1, T0 + 2, 99), THRESHOLDS);
  assert.deepEqual(
    log.events.map((e) => `${e.id} ${e.quantity} ${e.bound} ${e.count} ${e.unit}`),
    [
      "2 temperature above 1 °C",
      "1 humidity above 2 %", // same time as the next: the last one touched comes first
      "1 temperature above 1 °C",
      "1 temperature below 1 °C",
    ],
  );
});

Deno.test("EventLog keeps the most recently active episodes first, at most max", () => {
  const log = new EventLog(3);
  for (const id of [1, 2, 3, 4]) log.observe(reading(id, 1, T0 + id * 1000, 90), THRESHOLDS);
  assert.deepEqual(log.events.map((e) => e.id), [4, 3, 2]);
  assert.equal(log.observe(reading(5, 1, T0, 90), THRESHOLDS), false, "older than a full list");
  log.observe(reading(2, 2, T0 + 9000, 91), THRESHOLDS);
  assert.deepEqual(log.events.map((e) => [e.id, e.count]), [[2, 2], [4, 1], [3, 1]]);
});

Deno.test("EventLog judges a series bucket by its min and max", () => {
  const log = new EventLog();
  const bucket = (t: number, min: number, max: number) =>
    log.observeBucket(1, t, "humidity", { min, max }, THRESHOLDS, 240_000);
  assert.equal(bucket(T0, 10, 90), false);
  assert.equal(bucket(T0 + 240_000, -2, 50), true);
  bucket(T0 + 480_000, -5, 50);
  assert.deepEqual(
    log.events.map((e) => [e.bound, e.count, e.peak, e.value, e.bucketMs]),
    [["below", 2, -5, -5, 240_000]],
  );
});

Deno.test("timeTicks() ticks on round local times, at most maxTicks", () => {
  const min = T0 + 17_345;
  const max = min + 15 * 60_000;
  const { ticks, stepMs } = timeTicks(min, max, 8);
  assert.equal(stepMs, 2 * 60_000);
  assert.ok(ticks.length <= 8 && ticks.length >= 7, `${ticks.length} ticks`);
  for (const tick of ticks) {
    assert.ok(tick >= min && tick <= max);
    const local = new Date(tick);
    assert.equal(local.getSeconds(), 0);
    assert.equal(local.getMinutes() % 2, 0);
  }
  assert.equal(timeTicks(T0, T0 + 86_400_000, 10).stepMs, 3 * 3_600_000);
});

Deno.test("formatAgo() and formatDuration() read like a person would say them", () => {
  assert.equal(formatAgo(T0, T0 + 500), "now");
  assert.equal(formatAgo(T0, T0 + 12_000), "12 s ago");
  assert.equal(formatAgo(T0, T0 + 5 * 60_000), "5 min ago");
  assert.equal(formatAgo(T0, T0 + 3 * 3_600_000), "3 h ago");
  assert.equal(formatAgo(-Infinity, T0), "never");
  assert.equal(formatDuration(240_000), "4 min");
  assert.equal(formatDuration(3_600_000), "1 h");
  assert.equal(formatDuration(10_000), "10 s");
});

Deno.test("backoffDelay() doubles its ceiling up to the maximum, never below half", () => {
  const options = { baseMs: 500, maxMs: 30_000 };
  assert.equal(backoffDelay(0, { ...options, random: () => 0 }), 250);
  assert.equal(backoffDelay(0, { ...options, random: () => 0.999999 }), 499.99975);
  assert.equal(backoffDelay(3, { ...options, random: () => 0 }), 2000);
  assert.equal(backoffDelay(50, { ...options, random: () => 1 }), 30_000);
});

Deno.test("retry() backs off after each failure until the task succeeds, or stops on abort", async () => {
  const heard: string[] = [];
  let calls = 0;
  const result = await retry(() => {
    calls++;
    return calls < 3 ? Promise.reject(new Error(`down ${calls}`)) : Promise.resolve("up");
  }, {
    baseMs: 4,
    maxMs: 100,
    random: () => 0,
    onRetry: (error, attempt, delayMs) =>
      heard.push(`${(error as Error).message} ${attempt} ${delayMs}`),
  });
  assert.equal(result, "up");
  assert.deepEqual(heard, ["down 1 1 2", "down 2 2 4"]);

  const abort = new AbortController();
  const failing = retry(() => Promise.reject(new Error("still down")), {
    baseMs: 60_000,
    maxMs: 60_000,
    signal: abort.signal,
    onRetry: () => abort.abort(),
  });
  await assert.rejects(failing, /still down/);
});

Deno.test("index.html preloads exactly the page's modules, shared/ included", async () => {
  const root = new URL("../static/", import.meta.url);
  const html = await Deno.readTextFile(new URL("index.html", root));
  const preloaded = [...html.matchAll(/rel="modulepreload" href="([^"]+)"/g)].map((m) => m[1]);
  // Every module reachable from app.js, found by following the imports.
  const reached = new Set<string>();
  const queue = ["app.js"];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (reached.has(name)) continue;
    reached.add(name);
    const source = await Deno.readTextFile(new URL(name, root));
    for (const [, path] of source.matchAll(/^(?:import|export)[^;]*? from "\.\/([^"]+)";/gms)) {
      queue.push(new URL(path!, new URL(name, "file:///")).pathname.slice(1));
    }
  }
  reached.delete("app.js");
  assert.deepEqual(preloaded.sort(), [...reached].sort());
});
