/**
 * The reading factories of the tests: `testReading`, a valid reading in
 * exact hundredths (the protocol, the spool, the store), and `pageReading`,
 * a reading as the dashboard keeps it (static/model.js). The JSON form for
 * the HTTP API is `apiReading` (_api.ts), built from `testReading`.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { testReading } from "./_reading.ts";
 *
 * assert.equal(testReading(7, 42).temperature, 2042);
 * assert.equal(testReading(7, 42, { pressure: null }).pressure, null);
 * ```
 *
 * @module
 */

import type { MeasuredReading, Reading } from "../protocol/mod.ts";
import type { Reading as PageReading } from "../static/model.js";

/** The timestamp of `testReading(id, 0)`: 2025-11-24T16:00:00.000Z. */
export const TEST_EPOCH = 1_764_000_000_000;

/**
 * A reading of `sensorId` with recognisable exact values that follow `seq`
 * (timestamp {@linkcode TEST_EPOCH} + seq ms, 20.00 °C + seq hundredths,
 * 1013.00 hPa + seq, 40.00 % + seq), with `changes` applied; a quantity
 * changed to `null` is absent.
 */
export function testReading(
  sensorId: number,
  seq: number,
  changes?: Partial<MeasuredReading>,
): MeasuredReading;
export function testReading(sensorId: number, seq: number, changes: Partial<Reading>): Reading;
export function testReading(
  sensorId: number,
  seq: number,
  changes: Partial<Reading> = {},
): Reading {
  return {
    sensorId,
    seq,
    timestamp: TEST_EPOCH + seq,
    temperature: 2000 + seq,
    pressure: 101300 + seq,
    humidity: 4000 + seq,
    ...changes,
  };
}

/**
 * Sensor `id`'s reading `seq` at `t` (epoch ms) as the dashboard keeps it:
 * decimals in the quantities' units (21.5 °C, 1013.25 hPa, 45.1 % unless
 * `values` says otherwise; `null` for a quantity not measured).
 */
export function pageReading(
  id: number,
  seq: number,
  t: number,
  values: Partial<Pick<PageReading, "temperature" | "pressure" | "humidity">> = {},
): PageReading {
  return { id, seq, t, temperature: 21.5, pressure: 1013.25, humidity: 45.1, ...values };
}
