/**
 * The reading record: a {@linkcode Reading} in a fixed 29 bytes, the form
 * the gateway's spool keeps readings in and the server's writer thread
 * receives them in. Exact, allocation-free to write, and cheap to scan.
 *
 * | offset | size | field                                               |
 * | ------ | ---- | --------------------------------------------------- |
 * | 0      | 28   | the READING payload of docs/protocol.md; an absent quantity is 0 |
 * | 28     | 1    | presence: bit 0 temperature, bit 1 pressure, bit 2 humidity |
 *
 * A reading from a TLS sensor has presence `0x07`; a Modbus sensor that
 * maps only some quantities leaves the others' bits clear (`null`).
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeReadingRecord, encodeReadingRecord, READING_RECORD_SIZE } from "./record.ts";
 *
 * const reading = {
 *   sensorId: 7, seq: 42, timestamp: 1764000000123,
 *   temperature: 2150, pressure: null, humidity: 4510,
 * };
 * const bytes = new Uint8Array(READING_RECORD_SIZE);
 * encodeReadingRecord(bytes, 0, reading);
 * assert.equal(bytes[28], 0b101);
 * assert.deepEqual(decodeReadingRecord(bytes, 0), reading);
 * ```
 *
 * @module
 */

import { readI32, readU32, writeU32 } from "./bytes.ts";
import type { Reading } from "./reading.ts";

/** Bytes of one reading record. */
export const READING_RECORD_SIZE = 29;
/** Offset of the presence byte in a record. */
export const RECORD_PRESENCE_OFFSET = 28;
/** Presence bits, in the order of `QUANTITIES`. */
export const PRESENT_TEMPERATURE = 0b001;
export const PRESENT_PRESSURE = 0b010;
export const PRESENT_HUMIDITY = 0b100;
/** The presence byte of a reading that measures all three quantities. */
export const PRESENT_ALL = 0b111;

const TWO_32 = 0x1_0000_0000;

/**
 * Writes `reading` as a record at `target[offset]`. Fields are not checked:
 * they come from a decoded frame or a validated source.
 */
export function encodeReadingRecord(target: Uint8Array, offset: number, reading: Reading): void {
  const { temperature, pressure, humidity } = reading;
  writeU32(target, offset, reading.sensorId);
  writeU32(target, offset + 4, reading.seq);
  const high = Math.floor(reading.timestamp / TWO_32);
  writeU32(target, offset + 8, high);
  writeU32(target, offset + 12, reading.timestamp - high * TWO_32);
  writeU32(target, offset + 16, temperature ?? 0);
  writeU32(target, offset + 20, pressure ?? 0);
  writeU32(target, offset + 24, humidity ?? 0);
  target[offset + RECORD_PRESENCE_OFFSET] = (temperature === null ? 0 : PRESENT_TEMPERATURE) |
    (pressure === null ? 0 : PRESENT_PRESSURE) | (humidity === null ? 0 : PRESENT_HUMIDITY);
}

/** Reads the record at `bytes[offset]`. */
export function decodeReadingRecord(bytes: Uint8Array, offset: number): Reading {
  const presence = bytes[offset + RECORD_PRESENCE_OFFSET]!;
  return {
    sensorId: readU32(bytes, offset),
    seq: readU32(bytes, offset + 4),
    timestamp: readI32(bytes, offset + 8) * TWO_32 + readU32(bytes, offset + 12),
    temperature: presence & PRESENT_TEMPERATURE ? readI32(bytes, offset + 16) : null,
    pressure: presence & PRESENT_PRESSURE ? readI32(bytes, offset + 20) : null,
    humidity: presence & PRESENT_HUMIDITY ? readI32(bytes, offset + 24) : null,
  };
}

/** Packs `readings` as consecutive records in a new buffer. */
export function encodeReadingRecords(readings: readonly Reading[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(readings.length * READING_RECORD_SIZE);
  for (let i = 0; i < readings.length; i++) {
    encodeReadingRecord(bytes, i * READING_RECORD_SIZE, readings[i]!);
  }
  return bytes;
}

/** Reads every record of `bytes` (a whole number of records). */
export function decodeReadingRecords(bytes: Uint8Array): Reading[] {
  const readings: Reading[] = new Array(bytes.length / READING_RECORD_SIZE);
  for (let i = 0; i < readings.length; i++) {
    readings[i] = decodeReadingRecord(bytes, i * READING_RECORD_SIZE);
  }
  return readings;
}
