/**
 * CRC-16/MODBUS computed bit by bit straight from its definition: an
 * independent reference for checking the codec's table-driven CRC and for
 * building frames by hand in tests.
 *
 * @module
 */

/** CRC-16/MODBUS of `bytes`: reflected polynomial 0xA001, init 0xFFFF, no xorout. */
export function crc16Reference(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Returns `body` followed by its CRC, big-endian: a frame built without the codec. */
export function withCrc(body: Uint8Array): Uint8Array {
  const crc = crc16Reference(body);
  const frame = new Uint8Array(body.length + 2);
  frame.set(body);
  frame[body.length] = crc >> 8;
  frame[body.length + 1] = crc & 0xff;
  return frame;
}
