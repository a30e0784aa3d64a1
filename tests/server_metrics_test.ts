import assert from "node:assert/strict";
import { Metrics } from "../server/metrics.ts";
import { metricValue } from "./_api.ts";

const GAUGES = {
  databaseBytes: 0,
  liveClients: 0,
  newestCursor: 0,
  writeQueue: { readings: 0, waitSeconds: 0 },
};

Deno.test("Metrics.observeFreshness() fills the freshness histogram by age at storage", () => {
  const metrics = new Metrics();
  const now = 1_764_000_000_000;
  metrics.observeFreshness(
    [{ timestamp: now - 3 }, { timestamp: now - 45 }, { timestamp: now - 45 }, {
      timestamp: now - 2_000,
    }],
    now,
  );
  const text = metrics.render(GAUGES, now);
  const bucket = (le: string) =>
    metricValue(text, `vigia_reading_freshness_seconds_bucket{le="${le}"}`);
  assert.equal(bucket("0.005"), 1);
  assert.equal(bucket("0.04"), 1);
  assert.equal(bucket("0.05"), 3);
  assert.equal(bucket("1.5"), 3);
  assert.equal(bucket("2"), 4);
  assert.equal(bucket("+Inf"), 4);
  assert.equal(metricValue(text, "vigia_reading_freshness_seconds_count"), 4);
  assert.ok(Math.abs(metricValue(text, "vigia_reading_freshness_seconds_sum") - 2.093) < 1e-9);
});

Deno.test("Metrics.observeFreshness() counts a reading from the future as fresh, not negative", () => {
  const metrics = new Metrics();
  const now = 1_764_000_000_000;
  metrics.observeFreshness([{ timestamp: now + 5_000 }], now);
  const text = metrics.render(GAUGES, now);
  assert.equal(metricValue(text, `vigia_reading_freshness_seconds_bucket{le="0.005"}`), 1);
  assert.equal(metricValue(text, "vigia_reading_freshness_max_seconds"), 0);
});

Deno.test("Metrics freshness maximum covers the last 10 seconds and then forgets", () => {
  const metrics = new Metrics();
  const start = 1_764_000_000_000;
  metrics.observeFreshness([{ timestamp: start - 700 }], start);
  metrics.observeFreshness([{ timestamp: start + 3_000 - 20 }], start + 3_000);
  const max = (at: number) =>
    metricValue(metrics.render(GAUGES, at), "vigia_reading_freshness_max_seconds");
  assert.equal(max(start + 3_000), 0.7);
  assert.equal(max(start + 9_999), 0.7);
  assert.equal(max(start + 10_000), 0.02);
  assert.equal(max(start + 13_000), 0);
});
