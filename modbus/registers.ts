/**
 * Values held in Modbus registers: the five types a point may have, the
 * four byte orders of a 32-bit value across two registers, and the scaling
 * to the quantity's unit.
 *
 * A 32-bit value's bytes, most significant first, are A B C D. Devices
 * disagree on how they lay them out over two 16-bit registers:
 *
 * | order  | first register | second register | also called                  |
 * | ------ | -------------- | --------------- | ---------------------------- |
 * | `ABCD` | A B            | C D             | big-endian                   |
 * | `CDAB` | C D            | A B             | word-swapped (many PLCs)     |
 * | `BADC` | B A            | D C             | byte-swapped                 |
 * | `DCBA` | D C            | B A             | little-endian                |
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeValue, encodeValue } from "./registers.ts";
 *
 * assert.deepEqual(encodeValue(0x11223344, "uint32", "CDAB"), [0x3344, 0x1122]);
 * assert.equal(decodeValue(new Uint16Array([0x3344, 0x1122]), 0, "uint32", "CDAB"), 0x11223344);
 * assert.equal(decodeValue(new Uint16Array([0xff38]), 0, "int16"), -200);
 * ```
 *
 * @module
 */

/** The registers each type occupies. */
export const REGISTER_TYPES = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2 } as const;
/** A point's value type. */
export type RegisterType = keyof typeof REGISTER_TYPES;
/** The type names, in the table's order. */
export const REGISTER_TYPE_NAMES = Object.keys(REGISTER_TYPES) as RegisterType[];

/** Layouts of a 32-bit value over two registers. */
export const BYTE_ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"] as const;
/** One of {@linkcode BYTE_ORDERS}. */
export type ByteOrder = typeof BYTE_ORDERS[number];

/** For each order: which wire byte (0..3) holds A, B, C and D. */
const WIRE_INDEX: Readonly<Record<ByteOrder, readonly [number, number, number, number]>> = {
  ABCD: [0, 1, 2, 3],
  CDAB: [2, 3, 0, 1],
  BADC: [1, 0, 3, 2],
  DCBA: [3, 2, 1, 0],
};

const scratch = new DataView(new ArrayBuffer(4));

/**
 * The value of a `type` point whose first register is `registers[index]`.
 * A float32 may come out NaN or infinite; the caller decides what to do.
 */
export function decodeValue(
  registers: Uint16Array,
  index: number,
  type: RegisterType,
  order: ByteOrder = "ABCD",
): number {
  const first = registers[index]!;
  switch (type) {
    case "uint16":
      return first;
    case "int16":
      return (first << 16) >> 16;
  }
  const second = registers[index + 1]!;
  const wire = [first >> 8, first & 0xff, second >> 8, second & 0xff];
  const at = WIRE_INDEX[order];
  for (let i = 0; i < 4; i++) scratch.setUint8(i, wire[at[i]!]!);
  switch (type) {
    case "int32":
      return scratch.getInt32(0);
    case "uint32":
      return scratch.getUint32(0);
    case "float32":
      return scratch.getFloat32(0);
  }
}

/**
 * The registers holding `value` as a `type` point in `order`: what a device
 * serves. Integers are truncated and wrapped to the type's width; a float32
 * is rounded to single precision.
 */
export function encodeValue(
  value: number,
  type: RegisterType,
  order: ByteOrder = "ABCD",
): number[] {
  switch (type) {
    case "uint16":
    case "int16":
      return [Math.trunc(value) & 0xffff];
    case "int32":
    case "uint32":
      scratch.setUint32(0, Math.trunc(value) >>> 0);
      break;
    case "float32":
      scratch.setFloat32(0, value);
      break;
  }
  const wire = [0, 0, 0, 0];
  const at = WIRE_INDEX[order];
  for (let i = 0; i < 4; i++) wire[at[i]!] = scratch.getUint8(i);
  return [(wire[0]! << 8) | wire[1]!, (wire[2]! << 8) | wire[3]!];
}
