/**
 * How the simulated PLC (`plc.ts`) answers one request: registers from the
 * device its unit id names, the exceptions a real device gives, and, on
 * purpose, the faults it was asked to show every Nth request.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { answerRequest } from "./answer.ts";
 * import { decodeRequest, decodeResponse, encodeReadRequest } from "./mbap.ts";
 *
 * const served = { firstUnit: 1, registers: [new Uint16Array([7, 8, 9])] };
 * const ask = (address: number, count: number) =>
 *   decodeRequest(encodeReadRequest({ transactionId: 5, unit: 1, table: "input", address, count }))!.request;
 * const ok = answerRequest(ask(1, 2), served, {}, 1) as Uint8Array;
 * assert.deepEqual(decodeResponse(ok)?.response.type, "registers");
 * const past = answerRequest(ask(2, 2), served, {}, 2) as Uint8Array;
 * assert.equal(past.toHex(), "000500000003018402"); // illegal data address
 * ```
 *
 * @module
 */

import {
  encodeExceptionResponse,
  encodeRegistersResponse,
  FUNCTION_CODES,
  MAX_READ_REGISTERS,
  readRequestData,
} from "./mbap.ts";

/** A decoded request, as `decodeRequest` returns it. */
export interface RawRequest {
  readonly transactionId: number;
  readonly unit: number;
  readonly functionCode: number;
  readonly data: Uint8Array;
}

/** The devices behind one address: unit `firstUnit + i` serves `registers[i]` in both tables. */
export interface ServedDevices {
  readonly firstUnit: number;
  readonly registers: readonly Uint16Array[];
}

/** Faults to show: each `…Every` is a period in requests (0 or absent: never). */
export interface FaultModes {
  readonly dropEvery?: number;
  readonly garbageEvery?: number;
  readonly wrongTidEvery?: number;
  readonly exceptionEvery?: number;
  /** Registers that do not exist: a read covering one gets "illegal data address". */
  readonly missing?: ReadonlySet<number>;
}

/** Bytes to send, or `"drop"`: close the connection without answering. */
export type Answer = Uint8Array | "drop";

/** What a device answering HTTP by mistake might send: no Modbus at all. */
const GARBAGE = new TextEncoder().encode("\r\nHTTP/1.1 400 Bad Request\r\n\r\n");

/** The answer to `request`, the `n`th (from 1) this PLC received. */
export function answerRequest(
  request: RawRequest,
  served: ServedDevices,
  faults: FaultModes,
  n: number,
): Answer {
  const every = (k: number | undefined) => k !== undefined && k > 0 && n % k === 0;
  if (every(faults.dropEvery)) return "drop";
  if (every(faults.garbageEvery)) return GARBAGE;
  const tid = every(faults.wrongTidEvery)
    ? (request.transactionId + 1) & 0xffff
    : request.transactionId;
  const { unit, functionCode } = request;
  const exception = (code: number) => encodeExceptionResponse(tid, unit, functionCode, code);
  const registers = served.registers[unit - served.firstUnit];
  if (registers === undefined) return exception(0x0b);
  if (functionCode !== FUNCTION_CODES.holding && functionCode !== FUNCTION_CODES.input) {
    return exception(0x01);
  }
  const read = readRequestData(request.data);
  if (read === undefined || read.count < 1 || read.count > MAX_READ_REGISTERS) {
    return exception(0x03);
  }
  const end = read.address + read.count;
  if (end > registers.length) return exception(0x02);
  for (const missing of faults.missing ?? []) {
    if (missing >= read.address && missing < end) return exception(0x02);
  }
  if (every(faults.exceptionEvery)) return exception(0x06);
  return encodeRegistersResponse(tid, unit, functionCode, registers.subarray(read.address, end));
}
