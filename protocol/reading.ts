/**
 * A reading as the whole pipeline carries it: the sensor's identity fields
 * and its three measurements in exact integer hundredths (each may be
 * absent, `null`, for a source that does not measure it), plus the exact
 * conversion between hundredths and the decimal numbers of the HTTP API.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHundredths, toHundredths } from "./reading.ts";
 *
 * assert.equal(toHundredths(-74.56), -7456);
 * assert.equal(fromHundredths(101325), 1013.25);
 * ```
 *
 * @module
 */

// The quantities, in wire order, and the largest timestamp magnitude (ms;
// the range of a JavaScript `Date`, which every ISO 8601 form in the HTTP
// API can carry — the wire's i64 is wider, and readings beyond it are
// rejected, not rounded) are the ones the dashboard reads the API with.
import { QUANTITIES, type Quantity, TIMESTAMP_LIMIT } from "../static/shared/reading.js";

export { QUANTITIES, type Quantity, TIMESTAMP_LIMIT };

/**
 * One measurement of one sensor. Values are integer hundredths (2150 is
 * 21.50 °C) so no stage ever rounds a float. `(sensorId, seq, timestamp)`
 * identifies the reading: a retransmission repeats all three.
 *
 * A quantity is `null` when the sensor does not measure it (a Modbus sensor
 * mapped to only some registers); at least one is a number. A TLS sensor's
 * READING always carries all three: see {@linkcode MeasuredReading}.
 */
export interface Reading {
  /** Sensor id, u32. */
  readonly sensorId: number;
  /** Per-sensor counter, u32, +1 per reading. */
  readonly seq: number;
  /** Unix epoch milliseconds on the sensor's clock. */
  readonly timestamp: number;
  /** Hundredths of a degree Celsius, i32, or null when not measured. */
  readonly temperature: number | null;
  /** Hundredths of a hectopascal, i32, or null when not measured. */
  readonly pressure: number | null;
  /** Hundredths of a percent relative humidity, i32, or null when not measured. */
  readonly humidity: number | null;
}

/** A reading with all three quantities measured: what a READING frame carries. */
export interface MeasuredReading extends Reading {
  readonly temperature: number;
  readonly pressure: number;
  readonly humidity: number;
}

const U32_MAX = 0xffff_ffff;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;

/** A string naming the reading's identity, `"<sensorId>:<seq>:<timestamp>"`, for sets and maps. */
export function readingId(reading: Reading): string {
  return `${reading.sensorId}:${reading.seq}:${reading.timestamp}`;
}

/**
 * Converts a decimal value (21.5) to integer hundredths (2150), rounding a
 * value with more than two decimals to the nearest hundredth.
 *
 * Exact for every value with at most two decimals: the product is within a
 * millionth of an integer across the whole i32 range, far from a tie.
 * Throws `RangeError` for NaN, ±Infinity, or a result outside i32.
 */
export function toHundredths(value: number): number {
  if (!Number.isFinite(value)) {
    throw new RangeError(`Cannot convert to hundredths: expected a finite number, got ${value}`);
  }
  const hundredths = Math.round(value * 100) + 0; // `+ 0` turns -0 into 0
  if (hundredths < I32_MIN || hundredths > I32_MAX) {
    throw new RangeError(`Cannot convert to hundredths: ${value} is outside the i32 range`);
  }
  return hundredths;
}

/**
 * Converts integer hundredths (101325) to the decimal value (1013.25).
 *
 * Division is correctly rounded, so the result is the double nearest the
 * decimal and `JSON.stringify` prints it with at most two decimals.
 */
export function fromHundredths(hundredths: number): number {
  return hundredths / 100;
}

/**
 * Throws `RangeError` naming the first field that does not fit its wire
 * type, or when no quantity is measured (all three `null`).
 */
export function assertReading(reading: Reading): void {
  checkInteger("sensor_id", reading.sensorId, 0, U32_MAX);
  checkInteger("seq", reading.seq, 0, U32_MAX);
  checkInteger("timestamp", reading.timestamp, -TIMESTAMP_LIMIT, TIMESTAMP_LIMIT);
  // Unrolled: this runs once per frame encoded, where a keyed loop over QUANTITIES is slow.
  checkQuantity("temperature", reading.temperature);
  checkQuantity("pressure", reading.pressure);
  checkQuantity("humidity", reading.humidity);
  if (!isMeasured(reading)) {
    throw new RangeError(
      "Invalid reading: at least one of temperature, pressure, humidity must be a number",
    );
  }
}

/** Whether at least one quantity of `reading` is measured (not `null`). */
export function isMeasured(reading: Reading): boolean {
  return reading.temperature !== null || reading.pressure !== null || reading.humidity !== null;
}

function checkQuantity(field: string, value: number | null): void {
  if (value !== null) checkInteger(field, value, I32_MIN, I32_MAX);
}

function checkInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid reading: ${field} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
}
