/**
 * Modbus TCP application data units (ADUs) for the two functions Vigía
 * uses, read holding registers (3) and read input registers (4): encoders
 * and decoders for requests and responses, and the exception codes by name.
 *
 * | offset | size | field          | value                                   |
 * | ------ | ---- | -------------- | --------------------------------------- |
 * | 0      | 2    | transaction id | chosen by the client, echoed            |
 * | 2      | 2    | protocol id    | `0x0000` (Modbus)                       |
 * | 4      | 2    | length         | bytes that follow: unit + PDU, 2..254   |
 * | 6      | 1    | unit id        | the device behind the address, echoed   |
 * | 7      | 1    | function       | 3 or 4; + 0x80 in an exception response |
 * | 8      | …    | data           | per function, below                     |
 *
 * Every integer is big-endian. Request data: start address u16, register
 * count u16 (1..125). Response data: byte count u8 (2 × count), then the
 * registers, u16 each. Exception response data: exception code u8.
 * Modbus TCP has no CRC: TCP checks the bytes.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse, encodeReadRequest } from "./mbap.ts";
 *
 * const request = { transactionId: 1, unit: 1, table: "holding", address: 0, count: 2 } as const;
 * assert.equal(encodeReadRequest(request).toHex(), "000100000006010300000002");
 *
 * const bytes = Uint8Array.fromHex("0001000000070103040102fffe");
 * assert.deepEqual(decodeResponse(bytes), {
 *   response: {
 *     type: "registers", transactionId: 1, unit: 1, functionCode: 3,
 *     registers: new Uint16Array([0x0102, 0xfffe]),
 *   },
 *   byteLength: 13,
 * });
 * ```
 *
 * @module
 */

/** Transaction id, protocol id, length, unit id. */
export const MBAP_HEADER_SIZE = 7;
/** The most registers one read may ask for (the PDU's 253-byte limit). */
export const MAX_READ_REGISTERS = 125;
/** The largest value of the length field: unit id + the 253-byte PDU. */
export const MAX_MBAP_LENGTH = 254;
/** Size of a read request ADU. */
export const READ_REQUEST_SIZE = 12;

/** The function code reading each register table. */
export const FUNCTION_CODES = { holding: 3, input: 4 } as const;
/** A register table Vigía reads. */
export type RegisterTable = keyof typeof FUNCTION_CODES;
/** The tables, in a fixed order. */
export const REGISTER_TABLES = Object.keys(FUNCTION_CODES) as RegisterTable[];

/** Exception codes of the Modbus application protocol, by name. */
export const EXCEPTION_NAMES: Readonly<Record<number, string>> = {
  0x01: "illegal function",
  0x02: "illegal data address",
  0x03: "illegal data value",
  0x04: "server device failure",
  0x05: "acknowledge",
  0x06: "server device busy",
  0x08: "memory parity error",
  0x0a: "gateway path unavailable",
  0x0b: "gateway target device failed to respond",
};

/** The name of exception `code` (`"illegal data address"`), or `"exception 0x13"` for an unknown one. */
export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `exception 0x${code.toString(16).padStart(2, "0")}`;
}

/** A read of `count` registers from `address` of a table. */
export interface ReadRequest {
  readonly transactionId: number;
  readonly unit: number;
  readonly table: RegisterTable;
  readonly address: number;
  readonly count: number;
}

/** A response carrying registers. */
export interface RegistersResponse {
  readonly type: "registers";
  readonly transactionId: number;
  readonly unit: number;
  readonly functionCode: number;
  readonly registers: Uint16Array;
}

/** An exception response: the device refused the request. */
export interface ExceptionResponse {
  readonly type: "exception";
  readonly transactionId: number;
  readonly unit: number;
  /** The request's function code (without the 0x80 flag). */
  readonly functionCode: number;
  readonly exceptionCode: number;
}

/** Any response {@linkcode decodeResponse} returns. */
export type ModbusResponse = RegistersResponse | ExceptionResponse;

/** Why bytes are not a Modbus TCP ADU. */
export type MbapErrorReason = "bad-protocol" | "bad-length" | "bad-function";

/** Bytes that cannot be a Modbus TCP ADU: the stream has lost its framing. */
export class MbapError extends SyntaxError {
  readonly reason: MbapErrorReason;

  constructor(reason: MbapErrorReason, message: string) {
    super(`Cannot decode Modbus TCP message: ${message}`);
    this.name = "MbapError";
    this.reason = reason;
  }
}

/** Encodes a read request. Throws `RangeError` for a field out of its range. */
export function encodeReadRequest(request: ReadRequest): Uint8Array {
  checkField("transaction id", request.transactionId, 0xffff);
  checkField("unit", request.unit, 0xff);
  checkField("address", request.address, 0xffff);
  if (!Number.isInteger(request.count) || request.count < 1 || request.count > MAX_READ_REGISTERS) {
    throw new RangeError(
      `Cannot encode Modbus request: count must be 1..125, got ${request.count}`,
    );
  }
  const bytes = new Uint8Array(READ_REQUEST_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, request.transactionId);
  view.setUint16(4, 6);
  view.setUint8(6, request.unit);
  view.setUint8(7, FUNCTION_CODES[request.table]);
  view.setUint16(8, request.address);
  view.setUint16(10, request.count);
  return bytes;
}

/**
 * Decodes the request at `offset` (for a device simulator): `undefined`
 * when more bytes are needed. The function code is returned as sent; one
 * Vigía does not know is the caller's to refuse (illegal function).
 */
export function decodeRequest(
  bytes: Uint8Array,
  offset = 0,
):
  | {
    request: { transactionId: number; unit: number; functionCode: number; data: Uint8Array };
    byteLength: number;
  }
  | undefined {
  const frame = frameAt(bytes, offset);
  if (frame === undefined) return undefined;
  const { view, length } = frame;
  return {
    request: {
      transactionId: view.getUint16(0),
      unit: view.getUint8(6),
      functionCode: view.getUint8(7),
      data: bytes.subarray(offset + 8, offset + 6 + length),
    },
    byteLength: 6 + length,
  };
}

/** Parses a read request's data (address, count), or undefined when it is not 4 bytes. */
export function readRequestData(data: Uint8Array): { address: number; count: number } | undefined {
  if (data.length !== 4) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, 4);
  return { address: view.getUint16(0), count: view.getUint16(2) };
}

/** Encodes a response carrying `registers` (at most 125). */
export function encodeRegistersResponse(
  transactionId: number,
  unit: number,
  functionCode: number,
  registers: ArrayLike<number>,
): Uint8Array {
  const bytes = new Uint8Array(MBAP_HEADER_SIZE + 2 + 2 * registers.length);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, transactionId);
  view.setUint16(4, 3 + 2 * registers.length);
  view.setUint8(6, unit);
  view.setUint8(7, functionCode);
  view.setUint8(8, 2 * registers.length);
  for (let i = 0; i < registers.length; i++) view.setUint16(9 + 2 * i, registers[i]!);
  return bytes;
}

/** Encodes an exception response to a request with `functionCode`. */
export function encodeExceptionResponse(
  transactionId: number,
  unit: number,
  functionCode: number,
  exceptionCode: number,
): Uint8Array {
  const bytes = new Uint8Array(MBAP_HEADER_SIZE + 2);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, transactionId);
  view.setUint16(4, 3);
  view.setUint8(6, unit);
  view.setUint8(7, functionCode | 0x80);
  view.setUint8(8, exceptionCode);
  return bytes;
}

/**
 * Decodes the response at `offset`: `undefined` when more bytes are
 * needed, the response and its size when complete. Throws
 * {@linkcode MbapError} for bytes that cannot be a register or exception
 * response; whether it answers the request sent is {@linkcode checkResponse}'s job.
 */
export function decodeResponse(
  bytes: Uint8Array,
  offset = 0,
): { response: ModbusResponse; byteLength: number } | undefined {
  const frame = frameAt(bytes, offset);
  if (frame === undefined) return undefined;
  const { view, length } = frame;
  const transactionId = view.getUint16(0);
  const unit = view.getUint8(6);
  const functionCode = view.getUint8(7);
  const byteLength = 6 + length;
  if (functionCode & 0x80) {
    if (length !== 3) {
      throw new MbapError("bad-length", `exception response of length ${length}, expected 3`);
    }
    const exceptionCode = view.getUint8(8);
    const response: ExceptionResponse = {
      type: "exception",
      transactionId,
      unit,
      functionCode: functionCode & 0x7f,
      exceptionCode,
    };
    return { response, byteLength };
  }
  if (functionCode !== FUNCTION_CODES.holding && functionCode !== FUNCTION_CODES.input) {
    throw new MbapError("bad-function", `unexpected function code ${functionCode}`);
  }
  const count = length >= 3 ? view.getUint8(8) : -1;
  if (count < 0 || count % 2 !== 0 || length !== 3 + count) {
    throw new MbapError("bad-length", `byte count ${count} does not fit length ${length}`);
  }
  const registers = new Uint16Array(count / 2);
  for (let i = 0; i < registers.length; i++) registers[i] = view.getUint16(9 + 2 * i);
  return {
    response: { type: "registers", transactionId, unit, functionCode, registers },
    byteLength,
  };
}

/** Why a well-formed response does not answer the request sent. */
export type MismatchReason = "transaction" | "unit" | "function" | "count";

/**
 * Checks that `response` answers `request`: the same transaction id, unit
 * and function, and exactly the registers asked for. Returns the first
 * field that differs, or undefined when it matches.
 */
export function checkResponse(
  request: ReadRequest,
  response: ModbusResponse,
): MismatchReason | undefined {
  if (response.transactionId !== request.transactionId) return "transaction";
  if (response.unit !== request.unit) return "unit";
  if (response.functionCode !== FUNCTION_CODES[request.table]) return "function";
  if (response.type === "registers" && response.registers.length !== request.count) return "count";
  return undefined;
}

function frameAt(
  bytes: Uint8Array,
  offset: number,
): { view: DataView; length: number } | undefined {
  if (bytes.length - offset < 6) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, bytes.length - offset);
  const protocol = view.getUint16(2);
  if (protocol !== 0) {
    throw new MbapError("bad-protocol", `protocol id ${protocol}, expected 0`);
  }
  const length = view.getUint16(4);
  if (length < 2 || length > MAX_MBAP_LENGTH) {
    throw new MbapError("bad-length", `length ${length} is outside 2..${MAX_MBAP_LENGTH}`);
  }
  if (bytes.length - offset < 6 + length) return undefined;
  return { view, length };
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot encode Modbus request: ${name} must be 0..${max}, got ${value}`);
  }
}
