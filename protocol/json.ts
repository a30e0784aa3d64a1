/**
 * The reading's JSON form in the HTTP API (docs/http-api.md): what the
 * gateway sends, what the server validates and returns. A quantity the
 * sensor does not measure is `null`; at least one is a number.
 *
 * ```json
 * {"id": 7, "seq": 42, "timestamp": "2025-11-24T16:00:00.123Z",
 *  "temperature": 21.5, "pressure": 1013.25, "humidity": null}
 * ```
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseReadingJson, readingToJson } from "./json.ts";
 *
 * const json = '{"id":7,"seq":42,"timestamp":"2025-11-24T16:00:00.123Z",' +
 *   '"temperature":21.5,"pressure":1013.25,"humidity":45.1}';
 * const reading = parseReadingJson(JSON.parse(json));
 * assert.equal(reading.temperature, 2150);
 * assert.equal(readingToJson(reading), json);
 * ```
 *
 * @module
 */

import { fromHundredths, type Reading, toHundredths } from "./reading.ts";
import { fieldError, parseApiReading, parseTimestamp } from "../static/shared/reading.js";

export { parseTimestamp };

/** A reading as the HTTP API writes it. */
export interface ReadingJson {
  readonly id: number;
  readonly seq: number;
  /** ISO 8601 in UTC with milliseconds. */
  readonly timestamp: string;
  readonly temperature: number | null;
  readonly pressure: number | null;
  readonly humidity: number | null;
}

/**
 * Serialises a reading as one JSON object, keys in the documented order.
 * A template rather than `JSON.stringify`: every field is a number, `null`
 * or an ISO string, so nothing needs escaping, and batches of thousands
 * stay cheap.
 */
export function readingToJson(reading: Reading): string {
  return `{"id":${reading.sensorId},"seq":${reading.seq},"timestamp":"${
    new Date(reading.timestamp).toISOString()
  }","temperature":${decimal(reading.temperature)},"pressure":${
    decimal(reading.pressure)
  },"humidity":${decimal(reading.humidity)}}`;
}

/** Hundredths as the API's decimal, `null` kept. */
function decimal(hundredths: number | null): number | null {
  return hundredths === null ? null : fromHundredths(hundredths);
}

/** Converts a reading to the plain object `JSON.stringify` writes as {@linkcode readingToJson} does. */
export function readingToObject(reading: Reading): ReadingJson {
  return {
    id: reading.sensorId,
    seq: reading.seq,
    timestamp: new Date(reading.timestamp).toISOString(),
    temperature: decimal(reading.temperature),
    pressure: decimal(reading.pressure),
    humidity: decimal(reading.humidity),
  };
}

/**
 * Validates one reading of an API request and converts it to hundredths.
 *
 * The checks are `parseApiReading`'s (static/shared/reading.js, the parser
 * the dashboard uses too): `TypeError` or `RangeError` whose message starts
 * with the field name (`temperature: expected a finite number or null, got
 * "hot"`). A quantity may be `null` (not measured) but not missing, and at
 * least one must be a number. Unknown extra fields are ignored, as JSON APIs
 * usually do.
 */
export function parseReadingJson(value: unknown): Reading {
  const json = parseApiReading(value);
  return {
    sensorId: json.id,
    seq: json.seq,
    timestamp: json.t,
    temperature: hundredths("temperature", json.temperature),
    pressure: hundredths("pressure", json.pressure),
    humidity: hundredths("humidity", json.humidity),
  };
}

function hundredths(field: string, value: number | null): number | null {
  if (value === null) return null;
  try {
    return toHundredths(value);
  } catch (error) {
    throw fieldError(field, error);
  }
}
