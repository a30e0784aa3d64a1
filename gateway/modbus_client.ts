/**
 * A Modbus TCP client that does not trust the network: one connection to
 * one device, one request at a time, every response checked against its
 * request (transaction id, unit, function, register count) before a
 * register of it is used.
 *
 * Anything that leaves the byte stream in doubt closes the connection: a
 * response later than the timeout (so it can never be taken for the answer
 * to a later request), a mismatch, bytes that are no Modbus at all, or
 * bytes beyond the response. The next read opens a new one. An exception
 * response is an answer: the connection stays.
 *
 * @module
 */

import {
  checkResponse,
  decodeResponse,
  encodeReadRequest,
  exceptionName,
  MbapError,
  type RegisterTable,
} from "../modbus/mod.ts";

/** What went wrong with a read, as the metrics count it. */
export type ModbusErrorKind = "connect" | "timeout" | "exception" | "mismatch";

/** A failed read. */
export class ModbusError extends Error {
  readonly kind: ModbusErrorKind;
  /** For `exception`: the device's exception code. */
  readonly exceptionCode: number | undefined;

  constructor(kind: ModbusErrorKind, message: string, exceptionCode?: number) {
    super(message);
    this.name = "ModbusError";
    this.kind = kind;
    this.exceptionCode = exceptionCode;
  }
}

/** Options of a {@linkcode ModbusClient}. */
export interface ModbusClientOptions {
  readonly hostname: string;
  readonly port: number;
  readonly unit: number;
  /** Longest wait for a connection or for one response, in ms. */
  readonly timeoutMs: number;
}

/** The largest ADU: MBAP header plus a 253-byte PDU. */
const MAX_ADU_SIZE = 260;

/** One device's connection. Not for concurrent reads: a poll reads one request after another. */
export class ModbusClient {
  #options: ModbusClientOptions;
  #conn: Deno.TcpConn | undefined;
  #buffer = new Uint8Array(2 * MAX_ADU_SIZE);
  #length = 0;
  #transactionId = 0;

  constructor(options: ModbusClientOptions) {
    this.#options = options;
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.#conn !== undefined;
  }

  /**
   * Reads `count` registers (1..125) from `address` of `table`, connecting
   * first when needed. Throws {@linkcode ModbusError}.
   */
  async read(table: RegisterTable, address: number, count: number): Promise<Uint16Array> {
    const conn = this.#conn ?? await this.#connect();
    this.#transactionId = (this.#transactionId + 1) & 0xffff;
    const request = {
      transactionId: this.#transactionId,
      unit: this.#options.unit,
      table,
      address,
      count,
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.close();
    }, this.#options.timeoutMs);
    try {
      await writeAll(conn, encodeReadRequest(request));
      for (;;) {
        const decoded = decodeResponse(this.#buffer.subarray(0, this.#length));
        if (decoded !== undefined) {
          if (decoded.byteLength !== this.#length) {
            throw new ModbusError(
              "mismatch",
              `${this.#length - decoded.byteLength} bytes beyond the response`,
            );
          }
          this.#length = 0;
          const { response } = decoded;
          const mismatch = checkResponse(request, response);
          if (mismatch !== undefined) {
            throw new ModbusError("mismatch", describeMismatch(mismatch, request, response));
          }
          if (response.type === "exception") {
            throw new ModbusError(
              "exception",
              exceptionName(response.exceptionCode),
              response.exceptionCode,
            );
          }
          return response.registers;
        }
        if (this.#length === this.#buffer.length) {
          throw new ModbusError("mismatch", "response longer than any Modbus message");
        }
        const n = await conn.read(this.#buffer.subarray(this.#length));
        if (n === null) throw new ModbusError("connect", "connection closed by the device");
        this.#length += n;
      }
    } catch (error) {
      if (!(error instanceof ModbusError && error.kind === "exception")) this.close();
      if (timedOut) {
        throw new ModbusError("timeout", `no response within ${this.#options.timeoutMs} ms`);
      }
      if (error instanceof ModbusError) throw error;
      if (error instanceof MbapError) throw new ModbusError("mismatch", error.message);
      throw new ModbusError("connect", `connection lost (${describe(error)})`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection, if any: a read in progress fails. */
  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#length = 0;
    try {
      conn?.close();
    } catch { /* already closed */ }
  }

  async #connect(): Promise<Deno.TcpConn> {
    const { hostname, port, timeoutMs } = this.#options;
    const connecting = Deno.connect({ hostname, port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
    });
    let conn: Deno.TcpConn | undefined;
    try {
      conn = await Promise.race([connecting, timeout]);
    } catch (error) {
      throw new ModbusError(
        "connect",
        `cannot connect to ${hostname}:${port} (${describe(error)})`,
      );
    } finally {
      clearTimeout(timer);
    }
    if (conn === undefined) {
      connecting.then((late) => late.close(), () => {});
      throw new ModbusError(
        "connect",
        `cannot connect to ${hostname}:${port} within ${timeoutMs} ms`,
      );
    }
    conn.setNoDelay(true);
    this.#conn = conn;
    this.#length = 0;
    return conn;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

function describeMismatch(
  field: string,
  request: { transactionId: number; unit: number; count: number },
  response: { transactionId: number; unit: number; functionCode: number },
): string {
  switch (field) {
    case "transaction":
      return `transaction id ${response.transactionId}, expected ${request.transactionId}`;
    case "unit":
      return `unit ${response.unit}, expected ${request.unit}`;
    case "function":
      return `function ${response.functionCode} does not answer the request`;
    default:
      return `register count does not match the ${request.count} asked for`;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
