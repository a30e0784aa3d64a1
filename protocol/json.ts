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

import {
  fromHundredths,
  QUANTITIES,
  type Reading,
  TIMESTAMP_LIMIT,
  toHundredths,
} from "./reading.ts";

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

// Date and time, then optional seconds and fraction, then an explicit zone:
// a time without a zone would silently take the server's local zone. The
// year has four digits, or six with a sign (ISO 8601's expanded form, what
// `toISOString()` writes outside 0000..9999): every timestamp a READING may
// carry (±8.64e15 ms) must read back from the API's own answers.
const ISO_8601 =
  /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parses a timestamp as the API accepts it: an ISO 8601 string with a zone,
 * or an integer number of epoch milliseconds. Returns epoch milliseconds.
 * Throws `TypeError` for another type and `RangeError` for an unparsable or
 * out-of-range value.
 */
export function parseTimestamp(value: unknown): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || Math.abs(value) > TIMESTAMP_LIMIT) {
      throw new RangeError(`expected integer epoch milliseconds, got ${value}`);
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new TypeError(
      `expected an ISO 8601 string or epoch milliseconds, got ${typeName(value)}`,
    );
  }
  const ms = ISO_8601.test(value) ? Date.parse(value.replace(",", ".")) : NaN;
  if (Number.isNaN(ms)) {
    throw new RangeError(
      `expected ISO 8601 with a time zone, got ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  return ms;
}

/**
 * Validates one reading of an API request and converts it to hundredths.
 *
 * Throws `TypeError` or `RangeError` whose message starts with the field
 * name (`temperature: expected a finite number or null, got "hot"`). A
 * quantity may be `null` (not measured) but not missing, and at least one
 * must be a number. Unknown extra fields are ignored, as JSON APIs usually do.
 */
export function parseReadingJson(value: unknown): Reading {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`reading: expected an object, got ${typeName(value)}`);
  }
  const record = value as Record<string, unknown>;
  const sensorId = parseU32("id", record.id);
  const seq = parseU32("seq", record.seq);
  let timestamp: number;
  try {
    timestamp = parseTimestamp(record.timestamp);
  } catch (error) {
    throw prefixed("timestamp", error);
  }
  const [temperature, pressure, humidity] = QUANTITIES.map((quantity) =>
    parseHundredths(quantity, record[quantity])
  ) as [number | null, number | null, number | null];
  if (temperature === null && pressure === null && humidity === null) {
    throw new TypeError(
      "temperature, pressure, humidity: expected at least one number, got all null",
    );
  }
  return { sensorId, seq, timestamp, temperature, pressure, humidity };
}

function parseU32(field: string, value: unknown): number {
  if (typeof value !== "number") {
    throw new TypeError(`${field}: expected an integer, got ${typeName(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${field}: expected an integer in 0..4294967295, got ${value}`);
  }
  return value;
}

function parseHundredths(field: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== "number") {
    throw new TypeError(`${field}: expected a finite number or null, got ${typeName(value)}`);
  }
  try {
    return toHundredths(value);
  } catch (error) {
    throw prefixed(field, error);
  }
}

function prefixed(field: string, error: unknown): Error {
  const message = error instanceof Error ? error.message.replace(/^[^:]*: /, "") : String(error);
  return error instanceof TypeError
    ? new TypeError(`${field}: ${message}`)
    : new RangeError(`${field}: ${message}`);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  return typeof value;
}
