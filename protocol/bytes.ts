/**
 * Big-endian 32-bit reads and writes on byte arrays, shared by the frame
 * codec and the reading record codec. Internal to protocol/ and its
 * hot-path users; not part of mod.ts.
 *
 * @module
 */

/** Writes the low 32 bits of `value` big-endian; signed values land as two's complement. */
export function writeU32(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = value >>> 16;
  target[offset + 2] = value >>> 8;
  target[offset + 3] = value;
}

/** Reads a big-endian u32. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return readI32(bytes, offset) >>> 0;
}

/** Reads a big-endian two's complement i32. */
export function readI32(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!;
}
