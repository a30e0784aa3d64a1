/**
 * The query client's view of the server's read API (`docs/http-api.md`):
 * pages of readings after a storage cursor, the head cursor, the known
 * sensors and the thresholds in force. Every request has its own timeout
 * besides the caller's abort signal; every answer is validated before use.
 *
 * @module
 */

import { fetchProblem } from "../lib/tls.ts";
import { parseReadingJson, parseTimestamp, type Reading } from "../protocol/mod.ts";
import { parseThresholds, type Thresholds } from "../lib/thresholds.ts";

/** The server answered, but not with what the client needs (status or shape). */
export class ApiError extends Error {
  /** The HTTP status, or 0 when the status was fine but the body or headers were not. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** No answer: connection refused or reset, DNS failure, or the request timed out. */
export class UnreachableError extends Error {
  /** What went wrong, without the request: `Connection refused (os error 111)`. */
  readonly detail: string;
  constructor(message: string, detail: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnreachableError";
    this.detail = detail;
  }
}

/** A page of readings stored after a cursor, oldest first. */
export interface ReadingsPage {
  readonly readings: Reading[];
  /** The cursor to ask from next (`X-Vigia-Cursor`). */
  readonly cursor: string;
}

/** One entry of `GET /api/sensors`, as far as the query client needs it. */
export interface SensorInfo {
  readonly id: number;
  /** Newest reading timestamp, epoch ms. */
  readonly lastSeen: number;
  /** The newest reading, when the server includes it. */
  readonly last?: Reading;
}

/** Options of {@linkcode ApiClient}. */
export interface ApiClientOptions {
  /** Timeout of each request, in ms (default 5 s). */
  readonly timeoutMs?: number;
  /** The HTTP client (default: the global `fetch`; for `https://`, one that verifies the server). */
  readonly fetch?: typeof fetch;
  /** Read token sent as `Authorization: Bearer` (default: none). */
  readonly token?: string | undefined;
}

const CURSOR_HEADER = "X-Vigia-Cursor";

/** Reads the server's API at `base` (`http://127.0.0.1:8080`). */
export class ApiClient {
  readonly #base: URL;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #headers: Readonly<Record<string, string>>;

  constructor(base: URL, options: ApiClientOptions = {}) {
    this.#base = base;
    this.#timeoutMs = options.timeoutMs ?? 5_000;
    this.#fetch = options.fetch ?? fetch;
    this.#headers = {
      accept: "application/json",
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    };
  }

  /** The server's base URL, for messages. */
  get base(): string {
    return this.#base.href.replace(/\/$/, "");
  }

  /** The cursor of the newest stored reading: where following "from now" starts. */
  async head(signal: AbortSignal): Promise<string> {
    const { response } = await this.#get("/api/readings", { limit: "1" }, signal);
    return readCursor(response);
  }

  /** Up to `limit` readings stored after `cursor`, in storage order. */
  async readingsAfter(cursor: string, limit: number, signal: AbortSignal): Promise<ReadingsPage> {
    const { response, body } = await this.#get(
      "/api/readings",
      { after: cursor, limit: String(limit) },
      signal,
    );
    return { readings: parseReadings(body), cursor: readCursor(response) };
  }

  /** The newest reading of one sensor, or `undefined` when it has none. */
  async latestReading(sensor: number, signal: AbortSignal): Promise<Reading | undefined> {
    const { body } = await this.#get(
      "/api/readings",
      { sensor: String(sensor), limit: "1" },
      signal,
    );
    return parseReadings(body)[0];
  }

  /** Every sensor the server has readings of. */
  async sensors(signal: AbortSignal): Promise<SensorInfo[]> {
    const { body } = await this.#get("/api/sensors", {}, signal);
    if (!Array.isArray(body)) throw shapeError("/api/sensors", "expected an array");
    return body.map((entry, index) => {
      try {
        return parseSensor(entry);
      } catch (error) {
        throw shapeError(`/api/sensors`, `[${index}].${(error as Error).message}`);
      }
    });
  }

  /**
   * The thresholds the server reports, or `undefined` when it does not
   * serve them (404). Other failures throw, so the caller can retry.
   */
  async thresholds(signal: AbortSignal): Promise<Thresholds | undefined> {
    let body: unknown;
    try {
      ({ body } = await this.#get("/api/thresholds", {}, signal));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
    try {
      return parseThresholds(body);
    } catch (error) {
      throw shapeError("/api/thresholds", (error as Error).message);
    }
  }

  /** What to change when the server refuses the token (or its absence). */
  #tokenHint(status: number): string {
    const hasToken = "authorization" in this.#headers;
    if (status === 401 && !hasToken) return " (this server needs a read token: --token-file FILE)";
    if (status === 401) return " (--token-file's last line is not one of the server's read tokens)";
    if (status === 403) return " (--token-file must hold a read token, e.g. certs/read.token)";
    return "";
  }

  #describe(error: unknown): string {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return `no answer within ${this.#timeoutMs / 1000} s`;
    }
    return fetchProblem(error, this.#base);
  }

  async #get(
    path: string,
    params: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ response: Response; body: unknown }> {
    const url = new URL(this.base + path);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, {
        headers: this.#headers,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw error;
      const detail = this.#describe(error);
      throw new UnreachableError(`Cannot GET ${path}: ${detail}`, detail, { cause: error });
    }
    if (!response.ok) {
      throw new ApiError(
        `Cannot GET ${path}: the server answered ${response.status} ${errorDetail(text)}` +
          this.#tokenHint(response.status),
        response.status,
      );
    }
    try {
      return { response, body: JSON.parse(text) };
    } catch {
      throw shapeError(path, "the body is not JSON");
    }
  }
}

/** Whether `error` is the server's fault (unreachable or a bad answer), worth a retry. */
export function isServerError(error: unknown): error is ApiError | UnreachableError {
  return error instanceof ApiError || error instanceof UnreachableError;
}

function readCursor(response: Response): string {
  const cursor = response.headers.get(CURSOR_HEADER);
  if (cursor === null || !/^\d+$/.test(cursor)) {
    throw new ApiError(
      `Cannot follow readings: expected an integer ${CURSOR_HEADER} header, got ` +
        `${
          cursor === null ? "none" : `"${cursor.slice(0, 40)}"`
        } (a server without the storage cursor?)`,
      0,
    );
  }
  return cursor;
}

function parseReadings(body: unknown): Reading[] {
  if (!Array.isArray(body)) throw shapeError("/api/readings", "expected an array");
  return body.map((value, index) => {
    try {
      return parseReadingJson(value);
    } catch (error) {
      throw shapeError("/api/readings", `[${index}].${(error as Error).message}`);
    }
  });
}

function parseSensor(value: unknown): SensorInfo {
  if (typeof value !== "object" || value === null) throw new TypeError("expected an object");
  const record = value as Record<string, unknown>;
  if (typeof record.id !== "number" || !Number.isInteger(record.id)) {
    throw new TypeError("id: expected an integer");
  }
  let lastSeen: number;
  try {
    lastSeen = parseTimestamp(record.last_seen);
  } catch (error) {
    throw new TypeError(`last_seen: ${(error as Error).message}`);
  }
  if (record.last === undefined || record.last === null) return { id: record.id, lastSeen };
  try {
    return { id: record.id, lastSeen, last: parseReadingJson(record.last) };
  } catch (error) {
    throw new TypeError(`last.${(error as Error).message}`);
  }
}

function shapeError(path: string, detail: string): ApiError {
  return new ApiError(`Cannot read ${path}: ${detail}`, 0);
}

function errorDetail(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === "string") return JSON.stringify(error.slice(0, 200));
  } catch { /* not JSON: quote the start */ }
  return JSON.stringify(text.slice(0, 200));
}
