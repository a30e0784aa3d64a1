import assert from "node:assert/strict";
import { type AlarmEvent, AlarmTracker, judgeReading } from "../query/alarms.ts";
import { judgePage } from "../query/poller.ts";
import { DEFAULT_THRESHOLDS, parseThresholds } from "../lib/thresholds.ts";
import { type Reading, toHundredths } from "../protocol/mod.ts";
import { testReading } from "./_reading.ts";

const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);

let nextSeq = 1;
/** A reading in the quantities' units; a quantity given as `null` is absent. */
function reading(
  sensor: number,
  values: { temperature?: number | null; pressure?: number | null; humidity?: number | null } = {},
  seq = nextSeq++,
): Reading {
  const value = (given: number | null | undefined, normal: number) =>
    given === null ? null : toHundredths(given ?? normal);
  return testReading(sensor, seq, {
    timestamp: T0 + seq * 1000,
    temperature: value(values.temperature, 21.5),
    pressure: value(values.pressure, 1013.25),
    humidity: value(values.humidity, 45),
  });
}

/** Feeds temperatures to sensor 7 and returns "type:value" per event. */
function feedTemperatures(tracker: AlarmTracker, temperatures: number[]): string[] {
  return temperatures.flatMap((temperature) =>
    tracker.observe(reading(7, { temperature }), 0).map(summary)
  );
}

function summary(event: AlarmEvent): string {
  switch (event.type) {
    case "alert":
      return `alert ${event.quantity} ${event.value} ${event.limit}`;
    case "recovered":
      return `recovered ${event.quantity} ${event.value}`;
    case "stale":
      return `stale ${event.sensor} ${event.silentMs}`;
    case "reporting":
      return `reporting ${event.sensor}`;
  }
}

Deno.test("AlarmTracker.observe() gives one alert and one recovery for an excursion", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  assert.deepEqual(feedTemperatures(tracker, [20, 150.61, 151, 149, 90, 24.1, 25, 24]), [
    "alert temperature 150.61 max",
    "recovered temperature 24.1",
  ]);
  assert.equal(tracker.activeCount(), 0);
});

Deno.test("AlarmTracker.observe() treats the limits as inside the range", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  assert.deepEqual(feedTemperatures(tracker, [85, -40, 85, 85.01, 85]), [
    "alert temperature 85.01 max",
  ]);
  assert.deepEqual(feedTemperatures(tracker, [-40.01]), ["alert temperature -40.01 min"]);
});

Deno.test("AlarmTracker.observe() does not flap while a value hovers inside the deadband", () => {
  // Default deadband: 1 % of 125 °C = 1.25 °C, so a high alarm clears at 83.75 or below.
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  assert.deepEqual(feedTemperatures(tracker, [85.5, 84.5, 85.5, 84.2, 86, 83.76, 85.2, 84]), [
    "alert temperature 85.5 max",
  ]);
  assert.equal(tracker.activeCount(), 1);
  assert.deepEqual(feedTemperatures(tracker, [83.75, 84.9, 85, 84.5]), [
    "recovered temperature 83.75",
  ]);
});

Deno.test("AlarmTracker.observe() applies the deadband at the low limit too", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  assert.deepEqual(feedTemperatures(tracker, [-41, -39, -40.5, -38.76, -38.75]), [
    "alert temperature -41 min",
    "recovered temperature -38.75",
  ]);
});

Deno.test("AlarmTracker.observe() reports a jump across the whole range as one alert", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  assert.deepEqual(feedTemperatures(tracker, [100, -50, -60, 100]), [
    "alert temperature 100 max",
    "alert temperature -50 min",
    "alert temperature 100 max",
  ]);
  assert.equal(tracker.activeCount(), 1);
});

Deno.test("AlarmTracker.observe() uses the deadband set in the thresholds file", () => {
  const thresholds = parseThresholds({ humidity: { min: 10, max: 90, deadband: 5 } });
  const tracker = new AlarmTracker(thresholds, { staleMs: 0 });
  const events = [95, 86, 85.01, 85].flatMap((humidity) =>
    tracker.observe(reading(3, { humidity }), 0).map(summary)
  );
  assert.deepEqual(events, ["alert humidity 95 max", "recovered humidity 85"]);
});

Deno.test("AlarmTracker.observe() keeps quantities and sensors apart", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  const events = [
    reading(1, { temperature: 90, pressure: 700 }),
    reading(2, { temperature: 90 }),
    reading(1, { temperature: 20, pressure: 700 }),
    reading(2, { temperature: 90, humidity: 101 }),
  ].flatMap((r) => tracker.observe(r, 0).map((e) => `${e.sensor} ${summary(e)}`));
  assert.deepEqual(events, [
    "1 alert temperature 90 max",
    "1 alert pressure 700 min",
    "2 alert temperature 90 max",
    "1 recovered temperature 20",
    "2 alert humidity 101 max",
  ]);
  assert.equal(tracker.activeCount(), 3);
});

Deno.test("AlarmTracker.observe() describes an alert with the reading's own data", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  const r = reading(7, { temperature: 150.61 }, 42);
  assert.deepEqual(tracker.observe(r, 0), [{
    type: "alert",
    sensor: 7,
    quantity: "temperature",
    value: 150.61,
    unit: "°C",
    limit: "max",
    threshold: 85,
    timestamp: r.timestamp,
    seq: 42,
  }]);
});

Deno.test("AlarmTracker.observe() judges nothing for an absent quantity: no alarm raised or cleared", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  const observe = (values: Parameters<typeof reading>[1]) =>
    tracker.observe(reading(7, values), 0).map(summary);
  assert.deepEqual(observe({ temperature: null, pressure: null, humidity: 45 }), []);
  assert.deepEqual(observe({ temperature: 150, pressure: null }), ["alert temperature 150 max"]);
  // Absent while high: the alarm stays, neither cleared nor raised again.
  assert.deepEqual(observe({ temperature: null }), []);
  assert.deepEqual(observe({ temperature: null, humidity: null }), []);
  assert.equal(tracker.activeCount(), 1);
  assert.deepEqual(observe({ temperature: 24 }), ["recovered temperature 24"]);
  assert.deepEqual(
    judgeReading(
      reading(8, { temperature: null, pressure: 5000, humidity: null }),
      DEFAULT_THRESHOLDS,
    )
      .map(summary),
    ["alert pressure 5000 max"],
  );
  assert.deepEqual(judgeReading(reading(8, { temperature: null }), DEFAULT_THRESHOLDS), []);
});

Deno.test("AlarmTracker.checkStale() reports a silent sensor once, then its return", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 60_000 });
  tracker.observe(reading(7), 1_000);
  assert.deepEqual(tracker.checkStale(60_999), []);
  assert.deepEqual(tracker.checkStale(61_000).map(summary), ["stale 7 60000"]);
  assert.deepEqual(tracker.checkStale(90_000), []);
  assert.equal(tracker.activeCount(), 1);
  const back = reading(7, {}, 500);
  assert.deepEqual(tracker.observe(back, 95_000), [
    { type: "reporting", sensor: 7, timestamp: back.timestamp, seq: 500 },
  ]);
  assert.equal(tracker.activeCount(), 0);
  assert.deepEqual(tracker.checkStale(154_999), []);
  assert.deepEqual(tracker.checkStale(155_000).map(summary), ["stale 7 60000"]);
});

Deno.test("AlarmTracker.checkStale() counts from track() for a sensor known at start", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 5_000 });
  tracker.track(4, 10_000);
  tracker.track(4, 14_000); // a second track() does not restart the clock
  assert.deepEqual(tracker.checkStale(14_999), []);
  assert.deepEqual(tracker.checkStale(15_000).map(summary), ["stale 4 5000"]);
});

Deno.test("AlarmTracker.checkStale() reports nothing when staleness is disabled", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  tracker.observe(reading(7), 0);
  assert.deepEqual(tracker.checkStale(1e12), []);
});

Deno.test("AlarmTracker.restartStaleClocks() forgives the time the server was out of sight", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 5_000 });
  tracker.observe(reading(1), 0);
  tracker.observe(reading(2), 0);
  assert.deepEqual(tracker.checkStale(6_000).map(summary), ["stale 1 6000", "stale 2 6000"]);
  tracker.observe(reading(1), 7_000);
  tracker.restartStaleClocks(20_000); // sensor 2 stays stale; sensor 1 starts again at 20 s
  assert.deepEqual(tracker.checkStale(24_999), []);
  assert.deepEqual(tracker.checkStale(25_000).map(summary), ["stale 1 5000"]);
});

Deno.test("judgePage() judges each page in (timestamp, seq) order", () => {
  const tracker = new AlarmTracker(DEFAULT_THRESHOLDS, { staleMs: 0 });
  // Stored out of order: the excursion (seq 11) was measured before the recovery (seq 12).
  const page = [
    reading(7, { temperature: 20 }, 12),
    reading(7, { temperature: 99 }, 11),
    reading(7, { temperature: 20 }, 10),
  ];
  assert.deepEqual(judgePage(tracker, page, 0).map(summary), [
    "alert temperature 99 max",
    "recovered temperature 20",
  ]);
});

Deno.test("judgeReading() reports the alarms of one reading without history", () => {
  assert.deepEqual(judgeReading(reading(5, { temperature: 85 }), DEFAULT_THRESHOLDS), []);
  assert.deepEqual(
    judgeReading(reading(5, { pressure: 1300, humidity: -1 }), DEFAULT_THRESHOLDS).map(summary),
    ["alert pressure 1300 max", "alert humidity -1 min"],
  );
});
