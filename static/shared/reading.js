// @ts-check
/**
 * A reading as the HTTP API writes it (docs/http-api.md), read back and
 * checked field by field: the one parser of the API's reading JSON, for the
 * Deno programs (which then convert the values to exact hundredths) and the
 * dashboard (which keeps the decimals). Plain JavaScript with JSDoc types so
 * both import this file; the server serves it as `/shared/reading.js`.
 *
 * A quantity may be `null`: that sensor does not measure it (a Modbus or
 * OPC UA device mapped to some of the three). At least one is a number.
 *
 * ```js
 * import assert from "node:assert/strict";
 * import { parseApiReading } from "./reading.js";
 *
 * const json = {
 *   id: 7, seq: 42, timestamp: "2025-11-24T16:00:00.123Z",
 *   temperature: 21.5, pressure: null, humidity: 45.1,
 * };
 * const reading = parseApiReading(json);
 * assert.equal(reading.t, Date.UTC(2025, 10, 24, 16, 0, 0, 123));
 * assert.equal(reading.pressure, null);
 * assert.throws(() => parseApiReading({ ...json, id: -1 }), /id: expected an integer in 0/);
 * ```
 *
 * @module
 */

/** The measured quantities, in wire order. */
export const QUANTITIES = /** @type {const} */ (["temperature", "pressure", "humidity"]);

/** @typedef {typeof QUANTITIES[number]} Quantity */

/**
 * One reading of the API: `t` is its timestamp in epoch ms, values are the
 * API's decimals (°C, hPa, % RH), `null` where the sensor does not measure.
 * @typedef {{
 *   readonly id: number, readonly seq: number, readonly t: number,
 *   readonly temperature: number | null, readonly pressure: number | null,
 *   readonly humidity: number | null
 * }} ApiReading
 */

/**
 * The largest timestamp magnitude, in ms: the range of a JavaScript `Date`
 * (±100,000,000 days), which every ISO 8601 form in the HTTP API can carry.
 */
export const TIMESTAMP_LIMIT = 8_640_000_000_000_000;

const U32_MAX = 0xffff_ffff;

// Date and time, then optional seconds and fraction, then an explicit zone:
// a time without a zone would silently take the reader's local zone. The
// year has four digits, or six with a sign (ISO 8601's expanded form, what
// `toISOString()` writes outside 0000..9999): every timestamp a reading may
// carry (±8.64e15 ms) must read back from the API's own answers.
const ISO_8601 =
  /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Parses a timestamp as the API accepts it: an ISO 8601 string with a zone,
 * or an integer number of epoch milliseconds. Returns epoch milliseconds.
 * Throws `TypeError` for another type and `RangeError` for an unparsable or
 * out-of-range value.
 * @param {unknown} value
 * @returns {number}
 */
export function parseTimestamp(value) {
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
 * Validates one reading of the API. Throws `TypeError` or `RangeError`
 * whose message starts with the field name (`temperature: expected a finite
 * number or null, got "hot"`). Unknown extra fields are ignored, as JSON
 * APIs usually do.
 * @param {unknown} value
 * @returns {ApiReading}
 */
export function parseApiReading(value) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`reading: expected an object, got ${typeName(value)}`);
  }
  const record = /** @type {Record<string, unknown>} */ (value);
  const id = parseU32("id", record["id"]);
  const seq = parseU32("seq", record["seq"]);
  let t;
  try {
    t = parseTimestamp(record["timestamp"]);
  } catch (error) {
    throw fieldError("timestamp", error);
  }
  const temperature = parseValue("temperature", record["temperature"]);
  const pressure = parseValue("pressure", record["pressure"]);
  const humidity = parseValue("humidity", record["humidity"]);
  if (temperature === null && pressure === null && humidity === null) {
    throw new TypeError(
      "temperature, pressure, humidity: expected at least one number, got all null",
    );
  }
  return { id, seq, t, temperature, pressure, humidity };
}

/**
 * An unsigned 32-bit integer field (`id`, `seq`).
 * @param {string} field
 * @param {unknown} value
 * @returns {number}
 */
export function parseU32(field, value) {
  if (typeof value !== "number") {
    throw new TypeError(`${field}: expected an integer, got ${typeName(value)}`);
  }
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${field}: expected an integer in 0..4294967295, got ${value}`);
  }
  return value;
}

/**
 * @param {string} field
 * @param {unknown} value
 * @returns {number | null}
 */
function parseValue(field, value) {
  if (value === null) return null;
  if (typeof value !== "number") {
    throw new TypeError(`${field}: expected a finite number or null, got ${typeName(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new RangeError(`${field}: expected a finite number or null, got ${value}`);
  }
  return value;
}

/**
 * `error` with its message put under `field` (`timestamp: expected …`),
 * keeping its class: how every error of a reading names its field.
 * @param {string} field
 * @param {unknown} error
 * @returns {Error}
 */
export function fieldError(field, error) {
  const message = error instanceof Error ? error.message.replace(/^[^:]*: /, "") : String(error);
  return error instanceof TypeError
    ? new TypeError(`${field}: ${message}`)
    : new RangeError(`${field}: ${message}`);
}

/**
 * How a value is named in an error: strings quoted and cut at 40 characters.
 * @param {unknown} value
 */
function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  return typeof value;
}
