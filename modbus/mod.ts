/**
 * Modbus TCP as the gateway's Modbus source and the simulated PLC speak it:
 * pure functions and types, no I/O.
 *
 * - {@link ./mbap.ts}: the ADU layout, request and response codecs,
 *   `checkResponse`, exception names.
 * - {@link ./registers.ts}: value types, the four byte orders, `decodeValue`, `encodeValue`.
 * - {@link ./plan.ts}: `planReads`, merging points into as few reads as possible.
 *
 * @module
 */

export * from "./mbap.ts";
export * from "./registers.ts";
export * from "./plan.ts";
