import assert from "node:assert/strict";
import { eventToJson, formatEvent } from "../query/output.ts";
import type { AlarmEvent } from "../query/alarms.ts";

const AT = Date.UTC(2026, 10, 24, 10, 21, 10, 123);

const EVENTS: { event: AlarmEvent; human: string; json: Record<string, unknown> }[] = [
  {
    event: {
      type: "alert",
      sensor: 7,
      quantity: "temperature",
      value: 150.61,
      unit: "°C",
      limit: "max",
      threshold: 85,
      timestamp: AT,
      seq: 42,
    },
    human: "[2026-11-24 10:21:10] ALERT sensor 7: temperature 150.61 °C above 85.00",
    json: {
      event: "alert",
      sensor: 7,
      quantity: "temperature",
      value: 150.61,
      unit: "°C",
      limit: "max",
      threshold: 85,
      timestamp: "2026-11-24T10:21:10.123Z",
      seq: 42,
    },
  },
  {
    event: {
      type: "alert",
      sensor: 3,
      quantity: "pressure",
      value: 799.5,
      unit: "hPa",
      limit: "min",
      threshold: 800,
      timestamp: AT,
      seq: 1,
    },
    human: "[2026-11-24 10:21:10] ALERT sensor 3: pressure 799.50 hPa below 800.00",
    json: {
      event: "alert",
      sensor: 3,
      quantity: "pressure",
      value: 799.5,
      unit: "hPa",
      limit: "min",
      threshold: 800,
      timestamp: "2026-11-24T10:21:10.123Z",
      seq: 1,
    },
  },
  {
    event: {
      type: "recovered",
      sensor: 7,
      quantity: "temperature",
      value: 24.1,
      unit: "°C",
      min: -40,
      max: 85,
      timestamp: AT,
      seq: 43,
    },
    human:
      "[2026-11-24 10:21:10] RECOVERED sensor 7: temperature 24.10 °C back in range (-40.00…85.00)",
    json: {
      event: "recovered",
      sensor: 7,
      quantity: "temperature",
      value: 24.1,
      unit: "°C",
      min: -40,
      max: 85,
      timestamp: "2026-11-24T10:21:10.123Z",
      seq: 43,
    },
  },
  {
    event: { type: "stale", sensor: 7, silentMs: 61_600, timestamp: AT },
    human: "[2026-11-24 10:21:10] STALE sensor 7: no reading for 62 s",
    json: { event: "stale", sensor: 7, silent_s: 62, timestamp: "2026-11-24T10:21:10.123Z" },
  },
  {
    event: { type: "reporting", sensor: 7, timestamp: AT, seq: 44 },
    human: "[2026-11-24 10:21:10] RECOVERED sensor 7: reporting again",
    json: { event: "reporting", sensor: 7, timestamp: "2026-11-24T10:21:10.123Z", seq: 44 },
  },
];

for (const { event, human, json } of EVENTS) {
  const name = event.type === "alert" ? `an alert (${event.limit})` : `a ${event.type} event`;
  Deno.test(`formatEvent() writes ${name} as a human line in UTC`, () => {
    assert.equal(formatEvent(event), human);
  });
  Deno.test(`formatEvent() writes ${name} as one JSON object`, () => {
    const line = formatEvent(event, { json: true });
    assert.ok(!line.includes("\n"));
    assert.deepEqual(JSON.parse(line), json);
    assert.deepEqual(eventToJson(event), json);
  });
}
