/**
 * The spool's packing of readings: each reading as its 28-byte READING wire
 * payload (sensor_id u32, seq u32, timestamp i64, temperature, pressure,
 * humidity i32, all big-endian), back to back in one buffer per batch.
 *
 * The wire layout is reused because it is exact (integer hundredths), fixed
 * size (a batch of n readings is n × 28 bytes, no framing needed) and what
 * an operator inspecting the spool with `protocol-v1.md` already knows. The
 * frame header and CRC are left out: SQLite guards the bytes at rest.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { packReading, PACKED_READING_SIZE, unpackReading } from "./payload.ts";
 *
 * const reading = {
 *   sensorId: 7, seq: 42, timestamp: 1764000000123,
 *   temperature: 2150, pressure: 101325, humidity: 4510,
 * };
 * const bytes = new Uint8Array(PACKED_READING_SIZE);
 * packReading(bytes, 0, reading);
 * assert.equal(bytes.toHex(), "000000070000002a0000019ab697e87b0000086600018bcd0000119e");
 * assert.deepEqual(unpackReading(bytes, 0), reading);
 * ```
 *
 * @module
 */

import { type Reading, READING_PAYLOAD_SIZE } from "../protocol/mod.ts";

/** Bytes one reading takes in a spooled batch: the READING payload, 28. */
export const PACKED_READING_SIZE: number = READING_PAYLOAD_SIZE;

const TWO_32 = 0x1_0000_0000;

/**
 * Writes `reading` at `target[offset]` (28 bytes). The reading comes from a
 * decoded frame, so its fields already fit their wire types; nothing is checked.
 */
export function packReading(target: Uint8Array, offset: number, reading: Reading): void {
  writeU32(target, offset, reading.sensorId);
  writeU32(target, offset + 4, reading.seq);
  const high = Math.floor(reading.timestamp / TWO_32);
  writeU32(target, offset + 8, high);
  writeU32(target, offset + 12, reading.timestamp - high * TWO_32);
  writeU32(target, offset + 16, reading.temperature);
  writeU32(target, offset + 20, reading.pressure);
  writeU32(target, offset + 24, reading.humidity);
}

/** Reads the reading packed at `bytes[offset]`. */
export function unpackReading(bytes: Uint8Array, offset: number): Reading {
  return {
    sensorId: readI32(bytes, offset) >>> 0,
    seq: readI32(bytes, offset + 4) >>> 0,
    timestamp: readI32(bytes, offset + 8) * TWO_32 + (readI32(bytes, offset + 12) >>> 0),
    temperature: readI32(bytes, offset + 16),
    pressure: readI32(bytes, offset + 20),
    humidity: readI32(bytes, offset + 24),
  };
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = value >>> 16;
  target[offset + 2] = value >>> 8;
  target[offset + 3] = value;
}

function readI32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!;
}
