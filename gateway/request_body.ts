/**
 * The body of a forwarded `POST /api/data`: the readings of spooled batches
 * as one JSON array, written as UTF-8 bytes straight from the packed
 * payloads into a reusable buffer.
 *
 * This is the gateway's hottest loop under load (every reading passes
 * through it once), so it builds no `Reading` objects and no strings: each
 * field is read from the 29-byte record (protocol/record.ts) and its digits
 * written in place. The timestamp goes out as integer epoch milliseconds,
 * which the API accepts (docs/http-api.md) and parses without a date parser;
 * the three values as decimals with at most two digits after the point, the
 * same text `JSON.stringify(hundredths / 100)` gives, so the server's
 * `toHundredths` gets back exactly the integer on the wire; a quantity the
 * record marks absent as `null`.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeReadingRecord } from "../protocol/mod.ts";
 * import { writeBatchesJson } from "./request_body.ts";
 *
 * const payload = new Uint8Array(29);
 * encodeReadingRecord(payload, 0, {
 *   sensorId: 7, seq: 42, timestamp: 1764000000123,
 *   temperature: -5, pressure: 101325, humidity: null,
 * });
 * const target = new Uint8Array(256);
 * const length = writeBatchesJson([{ id: 1, readings: 1, payload }], target);
 * assert.equal(
 *   new TextDecoder().decode(target.subarray(0, length)),
 *   '[{"id":7,"seq":42,"timestamp":1764000000123,' +
 *     '"temperature":-0.05,"pressure":1013.25,"humidity":null}]',
 * );
 * ```
 *
 * @module
 */

import { readI32, readU32 } from "../protocol/bytes.ts";
import {
  PRESENT_HUMIDITY,
  PRESENT_PRESSURE,
  PRESENT_TEMPERATURE,
  READING_RECORD_SIZE,
  RECORD_PRESENCE_OFFSET,
} from "../protocol/mod.ts";
import type { SpooledBatch } from "./spool.ts";

/** Bytes one request body may take: the server's 4 MiB limit. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The most bytes one reading takes, its separating comma included. */
const MAX_READING_BYTES = 160;

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const ID = ascii('{"id":');
const SEQ = ascii(',"seq":');
const TIMESTAMP = ascii(',"timestamp":');
const TEMPERATURE = ascii(',"temperature":');
const PRESSURE = ascii(',"pressure":');
const HUMIDITY = ascii(',"humidity":');
const NULL = ascii("null");
const TWO_32 = 0x1_0000_0000;
const ZERO = 0x30;

/**
 * Writes the readings of `batches` as one JSON array, in spool order, into
 * `target` and returns the bytes written. Throws `RangeError` if they might
 * not fit (10,000 readings take at most 1.6 MB, well within 4 MiB).
 */
export function writeBatchesJson(batches: readonly SpooledBatch[], target: Uint8Array): number {
  let offset = 0;
  target[offset++] = 0x5b; // [
  let first = true;
  for (const batch of batches) {
    const bytes = batch.payload;
    for (let at = 0; at < bytes.length; at += READING_RECORD_SIZE) {
      if (offset + MAX_READING_BYTES + 1 > target.length) {
        throw new RangeError(`Cannot build request: more than ${target.length} bytes of JSON`);
      }
      if (!first) target[offset++] = 0x2c; // ,
      first = false;
      offset = put(target, offset, ID);
      offset = writeInteger(target, offset, readU32(bytes, at));
      offset = put(target, offset, SEQ);
      offset = writeInteger(target, offset, readU32(bytes, at + 4));
      offset = put(target, offset, TIMESTAMP);
      offset = writeInteger(
        target,
        offset,
        readI32(bytes, at + 8) * TWO_32 + readU32(bytes, at + 12),
      );
      const presence = bytes[at + RECORD_PRESENCE_OFFSET]!;
      offset = put(target, offset, TEMPERATURE);
      offset = presence & PRESENT_TEMPERATURE
        ? writeHundredths(target, offset, readI32(bytes, at + 16))
        : put(target, offset, NULL);
      offset = put(target, offset, PRESSURE);
      offset = presence & PRESENT_PRESSURE
        ? writeHundredths(target, offset, readI32(bytes, at + 20))
        : put(target, offset, NULL);
      offset = put(target, offset, HUMIDITY);
      offset = presence & PRESENT_HUMIDITY
        ? writeHundredths(target, offset, readI32(bytes, at + 24))
        : put(target, offset, NULL);
      target[offset++] = 0x7d; // }
    }
  }
  target[offset++] = 0x5d; // ]
  return offset;
}

function put(target: Uint8Array, offset: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) target[offset + i] = bytes[i]!;
  return offset + bytes.length;
}

/** Writes a safe integer in decimal; returns the offset after it. */
function writeInteger(target: Uint8Array, offset: number, value: number): number {
  if (value < 0) {
    target[offset++] = 0x2d; // -
    value = -value;
  }
  let digits = 1;
  for (let power = 10; power <= value; power *= 10) digits++;
  const end = offset + digits;
  for (let i = end - 1; i >= offset; i--) {
    const quotient = Math.floor(value / 10);
    target[i] = ZERO + value - quotient * 10;
    value = quotient;
  }
  return end;
}

/** Writes integer hundredths as a decimal (2150 → `21.5`, -5 → `-0.05`, 100 → `1`). */
function writeHundredths(target: Uint8Array, offset: number, hundredths: number): number {
  if (hundredths < 0) {
    target[offset++] = 0x2d; // -
    hundredths = -hundredths;
  }
  const whole = Math.floor(hundredths / 100);
  const fraction = hundredths - whole * 100;
  offset = writeInteger(target, offset, whole);
  if (fraction !== 0) {
    target[offset++] = 0x2e; // .
    const tenths = Math.floor(fraction / 10);
    target[offset++] = ZERO + tenths;
    const last = fraction - tenths * 10;
    if (last !== 0) target[offset++] = ZERO + last;
  }
  return offset;
}
