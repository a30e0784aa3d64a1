/**
 * The sensor link protocol, version 1, and the reading's JSON and record forms: pure
 * functions and types shared by the sensor, the gateway, the server and the
 * tests. No I/O.
 *
 * - {@link ./crc16.ts}: CRC-16/MODBUS.
 * - {@link ./frame.ts}: the frame layout, encoders, `decodeFrame`, `FrameError`.
 * - {@link ./frame_decoder.ts}: `FrameDecoder` for byte streams.
 * - {@link ./reading.ts}: the `Reading` type and exact hundredths conversion.
 * - {@link ./json.ts}: the reading as JSON in the HTTP API.
 * - {@link ./record.ts}: the reading as a fixed-size record (spool, writer thread).
 *
 * @module
 */

export * from "./crc16.ts";
export * from "./frame.ts";
export * from "./frame_decoder.ts";
export * from "./reading.ts";
export * from "./json.ts";
export * from "./record.ts";
