import assert from "node:assert/strict";
import {
  fromHundredths,
  parseReadingJson,
  parseTimestamp,
  type Reading,
  readingId,
  readingToJson,
  readingToObject,
  toHundredths,
} from "../protocol/mod.ts";
import { randomInt, seededRandom } from "./_random.ts";

Deno.test("toHundredths() and fromHundredths() convert the documented examples exactly", () => {
  const pairs: [number, number][] = [[21.5, 2150], [-74.56, -7456], [1013.25, 101325], [
    45.1,
    4510,
  ]];
  for (const [value, hundredths] of pairs) {
    assert.equal(toHundredths(value), hundredths);
    assert.equal(fromHundredths(hundredths), value);
  }
});

Deno.test("fromHundredths() prints at most two decimals and toHundredths() reads it back, for ±2,000,000", () => {
  for (let hundredths = -2_000_000; hundredths <= 2_000_000; hundredths++) {
    const text = JSON.stringify(fromHundredths(hundredths));
    if (!/^-?\d+(\.\d{1,2})?$/.test(text) || toHundredths(JSON.parse(text)) !== hundredths) {
      assert.fail(`${hundredths} printed as ${text}`);
    }
  }
});

Deno.test("toHundredths() reads every two-decimal string exactly across the i32 range", () => {
  const random = seededRandom(100);
  for (let i = 0; i < 200_000; i++) {
    const hundredths = randomInt(random, -(2 ** 31), 2 ** 31 - 1);
    const sign = hundredths < 0 ? "-" : "";
    const magnitude = Math.abs(hundredths);
    const text = `${sign}${Math.floor(magnitude / 100)}.${
      String(magnitude % 100).padStart(2, "0")
    }`;
    assert.equal(toHundredths(Number(text)), hundredths, text);
    assert.equal(fromHundredths(hundredths), Number(text), text);
  }
});

Deno.test("toHundredths() rounds extra decimals to the nearest hundredth and never returns -0", () => {
  assert.equal(toHundredths(21.456), 2146);
  assert.equal(toHundredths(-21.454), -2145);
  assert.ok(Object.is(toHundredths(-0.001), 0));
});

Deno.test("toHundredths() throws RangeError for non-finite values and values outside i32", () => {
  for (const value of [NaN, Infinity, -Infinity, 21474836.48, -21474836.49]) {
    assert.throws(() => toHundredths(value), RangeError, String(value));
  }
});

const GOOD_JSON =
  '{"id":7,"seq":42,"timestamp":"2025-11-24T16:00:00.123Z","temperature":21.5,"pressure":1013.25,"humidity":45.1}';
const GOOD: Reading = {
  sensorId: 7,
  seq: 42,
  timestamp: Date.UTC(2025, 10, 24, 16, 0, 0, 123),
  temperature: 2150,
  pressure: 101325,
  humidity: 4510,
};

Deno.test("parseReadingJson() reads the documented example and readingToJson() writes it back byte for byte", () => {
  assert.deepEqual(parseReadingJson(JSON.parse(GOOD_JSON)), GOOD);
  assert.equal(readingToJson(GOOD), GOOD_JSON);
  assert.equal(JSON.stringify(readingToObject(GOOD)), GOOD_JSON);
});

Deno.test("parseReadingJson() accepts epoch milliseconds, other zones, and ignores extra fields", () => {
  const base = JSON.parse(GOOD_JSON);
  assert.deepEqual(parseReadingJson({ ...base, timestamp: GOOD.timestamp }), GOOD);
  assert.deepEqual(parseReadingJson({ ...base, timestamp: "2025-11-24T17:00:00.123+01:00" }), GOOD);
  assert.deepEqual(parseReadingJson({ ...base, note: "x" }), GOOD);
});

/** Invalid readings: the field the error must name, and the error class. */
const BAD_READINGS: readonly [
  string,
  Record<string, unknown> | unknown,
  RegExp,
  typeof TypeError,
][] = [
  ["not an object", [1, 2], /^reading: expected an object, got an array/, TypeError],
  ["null", null, /^reading: /, TypeError],
  ["missing id", { id: undefined }, /^id: expected an integer, got undefined/, TypeError],
  ["id as a string", { id: "7" }, /^id: /, TypeError],
  ["negative id", { id: -1 }, /^id: expected an integer in 0\.\.4294967295/, RangeError],
  ["id above u32", { id: 2 ** 32 }, /^id: /, RangeError],
  ["fractional seq", { seq: 1.5 }, /^seq: /, RangeError],
  ["missing timestamp", { timestamp: undefined }, /^timestamp: /, TypeError],
  [
    "timestamp without zone",
    { timestamp: "2025-11-24T16:00:00" },
    /^timestamp: expected ISO 8601/,
    RangeError,
  ],
  ["timestamp as a date only", { timestamp: "2025-11-24" }, /^timestamp: /, RangeError],
  ["unparsable timestamp", { timestamp: "yesterday" }, /^timestamp: /, RangeError],
  ["impossible date", { timestamp: "2025-13-45T99:00:00Z" }, /^timestamp: /, RangeError],
  ["fractional epoch ms", { timestamp: 1.5 }, /^timestamp: expected integer epoch/, RangeError],
  [
    "temperature as a string",
    { temperature: "hot" },
    /^temperature: expected a finite number or null, got "hot"/,
    TypeError,
  ],
  ["temperature missing", { temperature: undefined }, /^temperature: .*undefined/, TypeError],
  [
    "every quantity null",
    { temperature: null, pressure: null, humidity: null },
    /^temperature, pressure, humidity: expected at least one number, got all null/,
    TypeError,
  ],
  [
    "pressure Infinity (1e400)",
    { pressure: JSON.parse("1e400") },
    /^pressure: .*Infinity/,
    RangeError,
  ],
  ["humidity beyond i32 hundredths", { humidity: 1e12 }, /^humidity: .*i32/, RangeError],
];

for (const [name, change, message, errorClass] of BAD_READINGS) {
  Deno.test(`parseReadingJson() rejects ${name}, naming the field`, () => {
    const input = typeof change === "object" && change !== null && !Array.isArray(change)
      ? { ...JSON.parse(GOOD_JSON), ...change }
      : change;
    assert.throws(() => parseReadingJson(input), (error: unknown) => {
      assert.ok(error instanceof errorClass, `${error} is not a ${errorClass.name}`);
      assert.match(error.message, message);
      return true;
    });
  });
}

Deno.test("parseReadingJson() and readingToJson() carry an absent quantity as null", () => {
  for (const absent of [["temperature"], ["pressure", "humidity"], ["temperature", "humidity"]]) {
    const json = JSON.parse(GOOD_JSON);
    for (const quantity of absent) json[quantity] = null;
    const reading = parseReadingJson(json);
    for (const quantity of absent) assert.equal(reading[quantity as keyof Reading], null);
    assert.equal(readingToJson(reading), JSON.stringify(json));
    assert.deepEqual(readingToObject(reading), json);
  }
});

Deno.test("parseTimestamp() reads ISO 8601 with a zone and integer epoch ms", () => {
  assert.equal(parseTimestamp("1970-01-01T00:00:00Z"), 0);
  assert.equal(
    parseTimestamp("2026-11-24T10:21:10.5+00:00"),
    Date.UTC(2026, 10, 24, 10, 21, 10, 500),
  );
  assert.equal(parseTimestamp(1764000000123), 1764000000123);
});

Deno.test("readingId() names the identity (sensor, seq, timestamp) and nothing else", () => {
  assert.equal(readingId(GOOD), "7:42:1764000000123");
  assert.equal(readingId({ ...GOOD, temperature: 0 }), readingId(GOOD));
  assert.notEqual(readingId({ ...GOOD, timestamp: GOOD.timestamp + 1 }), readingId(GOOD));
});
