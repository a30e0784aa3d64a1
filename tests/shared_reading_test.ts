/**
 * static/shared/reading.js, the API reading parser the dashboard (and the
 * programs) import, and the dashboard's lenient wrappers in static/api.js:
 * absent quantities (`null`) are read as such, anything else malformed is
 * refused with the field named (or dropped by the page).
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseApiReading, parseTimestamp } from "../static/shared/reading.js";
import { parseReading, parseSeriesPoint } from "../static/api.js";

const GOOD = {
  id: 7,
  seq: 42,
  timestamp: "2025-11-24T16:00:00.123Z",
  temperature: 21.5,
  pressure: 1013.25,
  humidity: 45.1,
};
const T = Date.UTC(2025, 10, 24, 16, 0, 0, 123);

Deno.test("parseApiReading() reads the API's reading, with epoch ms as t", () => {
  assert.deepEqual(parseApiReading(GOOD), {
    id: 7,
    seq: 42,
    t: T,
    temperature: 21.5,
    pressure: 1013.25,
    humidity: 45.1,
  });
  assert.equal(parseApiReading({ ...GOOD, timestamp: T }).t, T);
  assert.equal(parseApiReading({ ...GOOD, timestamp: "2025-11-24T17:00:00.123+01:00" }).t, T);
});

Deno.test("parseApiReading() keeps null for a quantity the sensor does not measure", () => {
  const reading = parseApiReading({ ...GOOD, temperature: null, humidity: null });
  assert.equal(reading.temperature, null);
  assert.equal(reading.pressure, 1013.25);
  assert.equal(reading.humidity, null);
});

const BAD: [string, Record<string, unknown>, RegExp, typeof TypeError][] = [
  ["missing id", { id: undefined }, /^id: expected an integer, got undefined/, TypeError],
  ["id above u32", { id: 2 ** 32 }, /^id: expected an integer in 0\.\.4294967295/, RangeError],
  ["fractional seq", { seq: 1.5 }, /^seq: /, RangeError],
  ["timestamp without zone", { timestamp: "2025-11-24T16:00:00" }, /^timestamp: /, RangeError],
  ["missing temperature", { temperature: undefined }, /^temperature: .*undefined/, TypeError],
  ["temperature as a string", { temperature: "hot" }, /^temperature: .*"hot"/, TypeError],
  ["pressure NaN", { pressure: NaN }, /^pressure: .*NaN/, RangeError],
  [
    "every quantity null",
    { temperature: null, pressure: null, humidity: null },
    /^temperature, pressure, humidity: expected at least one number, got all null$/,
    TypeError,
  ],
];

for (const [name, change, message, errorClass] of BAD) {
  Deno.test(`parseApiReading() rejects ${name}, naming the field`, () => {
    assert.throws(() => parseApiReading({ ...GOOD, ...change }), (error: unknown) => {
      assert.ok(error instanceof errorClass, `${error} is not a ${errorClass.name}`);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("parseTimestamp() reads ISO 8601 with a zone and integer epoch ms only", () => {
  assert.equal(parseTimestamp("1970-01-01T00:00:00Z"), 0);
  assert.equal(parseTimestamp(1764000000123), 1764000000123);
  assert.throws(() => parseTimestamp("2025-11-24"), RangeError);
  assert.throws(() => parseTimestamp(true), TypeError);
});

Deno.test("the page's parseReading() drops what is not a reading instead of throwing", () => {
  assert.equal(parseReading({ ...GOOD, humidity: "<img>" }), undefined);
  assert.equal(
    parseReading({ ...GOOD, temperature: null, pressure: null, humidity: null }),
    undefined,
  );
  assert.equal(parseReading("x"), undefined);
  assert.equal(parseReading({ ...GOOD, pressure: null })?.pressure, null);
});

Deno.test("parseSeriesPoint() reads a bucket, a quantity without readings as null", () => {
  const stats = { min: 20, avg: 21, max: 22 };
  assert.deepEqual(
    parseSeriesPoint({ t: T, count: 4, temperature: stats, pressure: null, humidity: stats }),
    {
      t: T,
      count: 4,
      temperature: { ...stats, count: 4 },
      pressure: null,
      humidity: { ...stats, count: 4 },
    },
  );
  // A server that counts per quantity: each count weighs that quantity's live readings.
  assert.deepEqual(
    parseSeriesPoint({
      t: T,
      count: 4,
      temperature: { ...stats, count: 3 },
      pressure: { min: null, avg: null, max: null, count: 0 },
      humidity: { ...stats, count: 1 },
    }),
    {
      t: T,
      count: 4,
      temperature: { ...stats, count: 3 },
      pressure: null,
      humidity: { ...stats, count: 1 },
    },
  );
  assert.equal(parseSeriesPoint({ t: T, count: 1, temperature: "x" }), undefined, "garbage");
  assert.equal(
    parseSeriesPoint({ t: T, count: 1, temperature: null, pressure: null, humidity: null }),
    undefined,
    "nothing measured",
  );
  assert.equal(parseSeriesPoint({ t: "soon", count: 1, temperature: stats }), undefined);
});
