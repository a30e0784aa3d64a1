/**
 * `POST /api/data`: the content type, the body read with a
 * hard size cap and a deadline, and all-or-nothing validation of a reading
 * or a batch. Every check runs before anything is queued for storage.
 *
 * @module
 */

import { parseReadingJson, type Reading } from "../protocol/mod.ts";
import { HttpError } from "./http.ts";

/** Limits of a write request. */
export interface IngestLimits {
  /** Largest body in bytes (default 4 MiB). */
  readonly maxBodyBytes: number;
  /** Most readings in one batch (default 10,000). */
  readonly maxBatch: number;
  /** How long reading the body may take, in ms. */
  readonly bodyTimeoutMs: number;
  /** Longest estimated wait for the writer a request is queued for, in ms; longer: 503. */
  readonly writeQueueMs: number;
}

/** The limits docs/http-api.md documents. */
export const DEFAULT_LIMITS: IngestLimits = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxBatch: 10_000,
  bodyTimeoutMs: 30_000,
  writeQueueMs: 500,
};

/** Throws 415 unless the body is declared `application/json` (UTF-8). */
export function assertJsonContentType(request: Request): void {
  const header = request.headers.get("content-type") ?? "";
  const [type = "", ...parameters] = header.split(";").map((part) => part.trim().toLowerCase());
  const charset = parameters.find((part) => part.startsWith("charset="));
  const utf8 = charset === undefined || /^charset="?utf-8"?$/.test(charset);
  if (type !== "application/json" || !utf8) {
    throw new HttpError(
      415,
      `Cannot store readings: expected Content-Type application/json, got ${
        JSON.stringify(header.slice(0, 60))
      }`,
    );
  }
}

/**
 * Reads the whole body, stopping as soon as it passes `maxBodyBytes` (413, also
 * without a Content-Length) or the deadline passes (408).
 */
export async function readBody(request: Request, limits: IngestLimits): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(413, `Cannot store readings: body over ${limits.maxBodyBytes} bytes`);
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limits.maxBodyBytes) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, limits.bodyTimeoutMs);
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch {
        throw new HttpError(400, "Cannot read body: the connection failed");
      }
      if (timedOut) throw new HttpError(408, "Cannot read body: timed out");
      if (result.done) break;
      total += result.value.byteLength;
      if (total > limits.maxBodyBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(result.value);
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

// fatal: bytes that are not UTF-8 are an error, not U+FFFD; ignoreBOM: a
// byte order mark is kept, so JSON.parse refuses it (RFC 8259 forbids it).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Parses and validates a body holding one reading or an array of them.
 * Throws 400 naming the first bad reading's `index`, or 413 for a batch
 * over `maxBatch`. Returns the readings only when every one is valid.
 */
export function parseReadings(body: Uint8Array, maxBatch: number): Reading[] {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    throw new HttpError(400, "Cannot parse body: not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `Cannot parse body: ${(error as Error).message.slice(0, 120)}`);
  }
  const items = Array.isArray(value) ? value : [value];
  if (items.length > maxBatch) {
    throw new HttpError(
      413,
      `Cannot store readings: batch of ${items.length} readings, at most ${maxBatch}`,
    );
  }
  const readings: Reading[] = new Array(items.length);
  for (let index = 0; index < items.length; index++) {
    try {
      readings[index] = parseReadingJson(items[index]);
    } catch (error) {
      throw new HttpError(400, (error as Error).message, { fields: { index } });
    }
  }
  return readings;
}
