/**
 * CRC-16/MODBUS, the checksum that closes every frame of the sensor link.
 *
 * Catalogue name CRC-16/MODBUS: polynomial 0x8005 (reflected 0xA001), init
 * 0xFFFF, input and output reflected, xorout 0x0000, check value 0x4B37 for
 * ASCII "123456789".
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./crc16.ts";
 *
 * assert.equal(crc16(new TextEncoder().encode("123456789")), 0x4b37);
 * ```
 *
 * @module
 */

/** Byte-wise lookup table for the reflected polynomial, built once at load. */
const CRC16_TABLE: Uint16Array = buildTable(0xa001);

function buildTable(reflectedPolynomial: number): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ reflectedPolynomial : crc >>> 1;
    }
    table[byte] = crc;
  }
  return table;
}

/**
 * Computes the CRC-16/MODBUS of `bytes[start, end)` (the whole array by default).
 *
 * The result is a number in 0..0xFFFF; the link writes it big-endian.
 */
export function crc16(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = (crc >>> 8) ^ CRC16_TABLE[(crc ^ bytes[i]!) & 0xff]!;
  }
  return crc;
}
