/**
 * Frames of the sensor link, version 1: the wire layout, encoders, and
 * `decodeFrame` for one frame at a given offset.
 *
 * | offset | size | field   | value                                     |
 * | ------ | ---- | ------- | ----------------------------------------- |
 * | 0      | 2    | magic   | `0x53 0x44` (ASCII `SD`)                  |
 * | 2      | 1    | version | `0x01`                                    |
 * | 3      | 1    | type    | `0x01` READING, `0x02` ACK, `0x03` ERROR  |
 * | 4      | 2    | length  | payload bytes `L`, 0..1024                |
 * | 6      | L    | payload | per type                                  |
 * | 6+L    | 2    | crc     | CRC-16/MODBUS over bytes `[0, 6+L)`       |
 *
 * Every integer is big-endian, the CRC too. The CRC is CRC-16/MODBUS
 * (polynomial 0x8005 reflected as 0xA001, init 0xFFFF, reflected in and out,
 * xorout 0x0000) computed over the header and the payload.
 *
 * READING payload (L = 28): sensor_id u32, seq u32, timestamp i64 (Unix ms),
 * temperature i32 (0.01 °C), pressure i32 (0.01 hPa), humidity i32 (0.01 % RH).
 * ACK payload (L = 8): sensor_id u32, seq u32 (cumulative).
 * ERROR payload (L = 2 + n, n ≤ 200): code u16, then a UTF-8 reason.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame, encodeAck } from "./frame.ts";
 *
 * const bytes = encodeAck(7, 42);
 * assert.equal(bytes.toHex(), "534401020008000000070000002ab2ad");
 * assert.deepEqual(decodeFrame(bytes), {
 *   frame: { type: "ack", sensorId: 7, seq: 42 },
 *   byteLength: 16,
 * });
 * ```
 *
 * Over 300 lines on purpose: the frame layout, its decoder and its
 * encoders change together when the protocol does and share the layout's
 * constants; a third of the file is the layout's documentation.
 *
 * @module
 */

import { readI32, readU32, writeU32 } from "./bytes.ts";
import { crc16 } from "./crc16.ts";
import { assertReading, type MeasuredReading, TIMESTAMP_LIMIT } from "./reading.ts";

/** The two magic bytes `SD` as one big-endian u16. */
export const FRAME_MAGIC = 0x5344;
/** The only protocol version this module speaks. */
export const FRAME_VERSION = 0x01;
/** magic (2) + version (1) + type (1) + length (2). */
export const HEADER_SIZE = 6;
/** The CRC trailer. */
export const CRC_SIZE = 2;
/** The largest payload any frame may carry. */
export const MAX_PAYLOAD_SIZE = 1024;
/** The largest frame on the wire: what a streaming decoder may have to hold. */
export const MAX_FRAME_SIZE: number = HEADER_SIZE + MAX_PAYLOAD_SIZE + CRC_SIZE;
/** Payload size of a READING. */
export const READING_PAYLOAD_SIZE = 28;
/** Size of a whole READING frame on the wire. */
export const READING_FRAME_SIZE: number = HEADER_SIZE + READING_PAYLOAD_SIZE + CRC_SIZE;
/** Payload size of an ACK. */
export const ACK_PAYLOAD_SIZE = 8;
/** Size of a whole ACK frame on the wire. */
export const ACK_FRAME_SIZE: number = HEADER_SIZE + ACK_PAYLOAD_SIZE + CRC_SIZE;
/** The longest reason an ERROR may carry, in UTF-8 bytes. */
export const ERROR_REASON_MAX_BYTES = 200;

/** Type codes of the frames version 1 defines. */
export const FRAME_TYPES = { reading: 0x01, ack: 0x02, error: 0x03 } as const;
/** The type code of a known frame. */
export type FrameTypeCode = typeof FRAME_TYPES[keyof typeof FRAME_TYPES];

/** ERROR codes: why the gateway is closing the connection. */
export const ERROR_CODES = {
  /** Bad magic, unsupported version, or a length out of bounds or wrong for the type. */
  framing: 1,
  /** The reading's sensor_id is not the one the client certificate authorises. */
  identity: 2,
  /** Too many corrupt frames in a row. */
  corrupt: 3,
  /** The gateway cannot store more now; reconnect later. */
  overloaded: 4,
  /** Nothing received for the idle timeout. */
  idle: 5,
} as const;
/** A code defined by version 1 of the ERROR frame. */
export type ErrorCode = typeof ERROR_CODES[keyof typeof ERROR_CODES];

const ERROR_CODE_VALUES: ReadonlySet<number> = new Set(Object.values(ERROR_CODES));

/** Whether `code` is one of the ERROR codes version 1 defines. */
export function isErrorCode(code: number): code is ErrorCode {
  return ERROR_CODE_VALUES.has(code);
}

/** A READING frame: one measurement, all fields as on the wire. */
export interface ReadingFrame extends MeasuredReading {
  readonly type: "reading";
}

/** An ACK frame: every reading up to and including `seq` is durably stored. */
export interface AckFrame {
  readonly type: "ack";
  readonly sensorId: number;
  readonly seq: number;
}

/** An ERROR frame: the gateway explains why it closes the connection. */
export interface ErrorFrame {
  readonly type: "error";
  /** Usually an {@linkcode ErrorCode}; a peer may send codes a later version defines. */
  readonly code: number;
  readonly reason: string;
}

/** A well-framed frame of a type this version does not know: ignored and counted. */
export interface UnknownFrame {
  readonly type: "unknown";
  readonly typeCode: number;
  readonly payload: Uint8Array;
}

/** Any frame the decoder can return. */
export type Frame = ReadingFrame | AckFrame | ErrorFrame | UnknownFrame;

/** Why a frame could not be decoded. */
export type FrameErrorReason =
  | "bad-magic"
  | "bad-version"
  | "bad-length"
  | "bad-crc"
  | "bad-timestamp";

/** Options of a {@linkcode FrameError}. */
export interface FrameErrorOptions {
  /** Offset in the input where the malformed frame starts. */
  readonly offset: number;
  /** Size of the whole malformed frame, when its boundary is still known. */
  readonly byteLength?: number;
}

/**
 * A malformed frame. `boundaryKnown` tells a reader whether it can skip the
 * frame (`byteLength` bytes) and go on, or whether framing is lost.
 */
export class FrameError extends SyntaxError {
  readonly reason: FrameErrorReason;
  readonly offset: number;
  readonly byteLength: number | undefined;

  constructor(reason: FrameErrorReason, detail: string, options: FrameErrorOptions) {
    super(`Cannot decode frame: ${detail}`);
    this.name = "FrameError";
    this.reason = reason;
    this.offset = options.offset;
    this.byteLength = options.byteLength;
  }

  /** True when the frame's length was trustworthy, so the next frame starts right after it. */
  get boundaryKnown(): boolean {
    return this.byteLength !== undefined;
  }
}

/** A complete frame and how many input bytes it took. */
export interface DecodedFrame {
  readonly frame: Frame;
  readonly byteLength: number;
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * Decodes the frame that starts at `bytes[offset]`.
 *
 * Returns `undefined` when more bytes are needed, and throws a
 * {@linkcode FrameError} as soon as the bytes at hand prove the frame
 * malformed: a wrong magic or version byte is reported before the rest of
 * the header arrives, a bad length before the payload arrives.
 */
export function decodeFrame(bytes: Uint8Array, offset = 0): DecodedFrame | undefined {
  const available = bytes.length - offset;
  if (available < 1) return undefined;
  if (
    bytes[offset] !== FRAME_MAGIC >> 8 ||
    (available > 1 && bytes[offset + 1] !== (FRAME_MAGIC & 0xff))
  ) {
    const got = bytes.subarray(offset, offset + 2).toHex();
    throw new FrameError("bad-magic", `bad magic (expected 0x5344, got 0x${got})`, { offset });
  }
  if (available < 3) return undefined;
  const version = bytes[offset + 2]!;
  if (version !== FRAME_VERSION) {
    throw new FrameError("bad-version", `unsupported version ${version}`, { offset });
  }
  if (available < HEADER_SIZE) return undefined;

  const typeCode = bytes[offset + 3]!;
  const length = (bytes[offset + 4]! << 8) | bytes[offset + 5]!;
  const lengthProblem = checkLength(typeCode, length);
  if (lengthProblem !== undefined) throw new FrameError("bad-length", lengthProblem, { offset });

  const byteLength = HEADER_SIZE + length + CRC_SIZE;
  if (available < byteLength) return undefined;

  const crcOffset = offset + HEADER_SIZE + length;
  const expected = crc16(bytes, offset, crcOffset);
  const actual = (bytes[crcOffset]! << 8) | bytes[crcOffset + 1]!;
  if (expected !== actual) {
    throw new FrameError(
      "bad-crc",
      `CRC mismatch (expected ${hex16(expected)}, got ${hex16(actual)})`,
      { offset, byteLength },
    );
  }
  const frame = decodePayload(bytes, offset, typeCode, length);
  return { frame, byteLength };
}

function checkLength(typeCode: number, length: number): string | undefined {
  const fixed = typeCode === FRAME_TYPES.reading
    ? READING_PAYLOAD_SIZE
    : typeCode === FRAME_TYPES.ack
    ? ACK_PAYLOAD_SIZE
    : undefined;
  if (fixed !== undefined && length !== fixed) {
    return `length ${length} is wrong for type ${typeCode} (expected ${fixed})`;
  }
  if (typeCode === FRAME_TYPES.error && (length < 2 || length > 2 + ERROR_REASON_MAX_BYTES)) {
    return `length ${length} is wrong for an ERROR (expected 2..${2 + ERROR_REASON_MAX_BYTES})`;
  }
  if (length > MAX_PAYLOAD_SIZE) {
    return `length ${length} exceeds ${MAX_PAYLOAD_SIZE}`;
  }
  return undefined;
}

function decodePayload(bytes: Uint8Array, offset: number, typeCode: number, length: number): Frame {
  const p = offset + HEADER_SIZE;
  switch (typeCode) {
    case FRAME_TYPES.reading: {
      const reading = decodeReadingPayload(bytes, p);
      if (reading.timestamp > TIMESTAMP_LIMIT || reading.timestamp < -TIMESTAMP_LIMIT) {
        throw new FrameError(
          "bad-timestamp",
          `timestamp ${reading.timestamp} is outside ±${TIMESTAMP_LIMIT} ms`,
          { offset, byteLength: HEADER_SIZE + length + CRC_SIZE },
        );
      }
      return reading;
    }
    case FRAME_TYPES.ack:
      return { type: "ack", sensorId: readU32(bytes, p), seq: readU32(bytes, p + 4) };
    case FRAME_TYPES.error:
      return {
        type: "error",
        code: (bytes[p]! << 8) | bytes[p + 1]!,
        reason: utf8Decoder.decode(bytes.subarray(p + 2, p + length)),
      };
    default:
      return { type: "unknown", typeCode, payload: bytes.slice(p, p + length) };
  }
}

/** Encodes a READING frame (36 bytes). Throws `RangeError` for a field out of range. */
export function encodeReading(reading: MeasuredReading): Uint8Array {
  const bytes = new Uint8Array(READING_FRAME_SIZE);
  encodeReadingInto(bytes, 0, reading);
  return bytes;
}

/**
 * Writes a READING frame into `target` at `offset` (36 bytes), so a sender
 * can pack many frames into one buffer and one socket write.
 */
export function encodeReadingInto(
  target: Uint8Array,
  offset: number,
  reading: MeasuredReading,
): void {
  assertReading(reading);
  if (reading.temperature === null || reading.pressure === null || reading.humidity === null) {
    throw new RangeError("Invalid reading: a READING frame carries all three quantities");
  }
  const p = writeHeader(target, offset, FRAME_TYPES.reading, READING_PAYLOAD_SIZE);
  encodeReadingPayload(target, p, reading);
  writeCrc(target, offset, p + READING_PAYLOAD_SIZE);
}

/**
 * Writes a READING's 28-byte payload — no header, no CRC — at
 * `target[offset]`. Fields are not checked; they come from a decoded frame
 * or from {@linkcode encodeReadingInto}, which checks them. (The gateway's
 * spool keeps readings as records, record.ts: this layout plus which
 * quantities are measured.)
 */
export function encodeReadingPayload(
  target: Uint8Array,
  offset: number,
  reading: MeasuredReading,
): void {
  writeU32(target, offset, reading.sensorId);
  writeU32(target, offset + 4, reading.seq);
  const high = Math.floor(reading.timestamp / 0x1_0000_0000);
  writeU32(target, offset + 8, high);
  writeU32(target, offset + 12, reading.timestamp - high * 0x1_0000_0000);
  writeU32(target, offset + 16, reading.temperature);
  writeU32(target, offset + 20, reading.pressure);
  writeU32(target, offset + 24, reading.humidity);
}

/**
 * Reads a READING's 28-byte payload at `bytes[offset]`, as the frame it
 * came in (one allocation per reading: this is the decoder's hot path). The
 * timestamp's range is not checked here; {@linkcode decodeFrame} does it.
 */
export function decodeReadingPayload(bytes: Uint8Array, offset: number): ReadingFrame {
  return {
    type: "reading",
    sensorId: readU32(bytes, offset),
    seq: readU32(bytes, offset + 4),
    timestamp: readI32(bytes, offset + 8) * 0x1_0000_0000 + readU32(bytes, offset + 12),
    temperature: readI32(bytes, offset + 16),
    pressure: readI32(bytes, offset + 20),
    humidity: readI32(bytes, offset + 24),
  };
}

/** Encodes an ACK frame (16 bytes): every reading up to `seq` is stored. */
export function encodeAck(sensorId: number, seq: number): Uint8Array {
  assertU32("sensor_id", sensorId);
  assertU32("seq", seq);
  const bytes = new Uint8Array(ACK_FRAME_SIZE);
  const p = writeHeader(bytes, 0, FRAME_TYPES.ack, ACK_PAYLOAD_SIZE);
  writeU32(bytes, p, sensorId);
  writeU32(bytes, p + 4, seq);
  writeCrc(bytes, 0, p + ACK_PAYLOAD_SIZE);
  return bytes;
}

/**
 * Encodes an ERROR frame. A reason longer than 200 UTF-8 bytes is cut at a
 * character boundary rather than rejected: the gateway must always be able
 * to say why it closes.
 */
export function encodeError(code: number, reason = ""): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) {
    throw new RangeError(`Cannot encode ERROR: code must be a u16, got ${code}`);
  }
  const reasonBytes = truncateUtf8(utf8Encoder.encode(reason), ERROR_REASON_MAX_BYTES);
  const length = 2 + reasonBytes.length;
  const bytes = new Uint8Array(HEADER_SIZE + length + CRC_SIZE);
  const p = writeHeader(bytes, 0, FRAME_TYPES.error, length);
  bytes[p] = code >> 8;
  bytes[p + 1] = code & 0xff;
  bytes.set(reasonBytes, p + 2);
  writeCrc(bytes, 0, p + length);
  return bytes;
}

function truncateUtf8(bytes: Uint8Array, max: number): Uint8Array {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function writeHeader(target: Uint8Array, offset: number, typeCode: number, length: number): number {
  target[offset] = FRAME_MAGIC >> 8;
  target[offset + 1] = FRAME_MAGIC & 0xff;
  target[offset + 2] = FRAME_VERSION;
  target[offset + 3] = typeCode;
  target[offset + 4] = length >> 8;
  target[offset + 5] = length & 0xff;
  return offset + HEADER_SIZE;
}

function writeCrc(target: Uint8Array, frameStart: number, crcOffset: number): void {
  const crc = crc16(target, frameStart, crcOffset);
  target[crcOffset] = crc >> 8;
  target[crcOffset + 1] = crc & 0xff;
}

function assertU32(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`Cannot encode frame: ${field} must be a u32, got ${value}`);
  }
}

function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, "0")}`;
}
