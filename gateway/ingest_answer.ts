/**
 * What the server's answer to one `POST /api/data` (docs/http-api.md)
 * means for the rows it carried: stored (delete them), one reading invalid
 * (move it aside, post the rest), or retry later, after the server's
 * `Retry-After` when it gave one.
 *
 * @module
 */

/** What one POST came to. */
export type IngestOutcome =
  | {
    readonly kind: "stored";
    readonly duplicates: number;
    /** The server's own time on the request (`Server-Timing: store;dur=`), when it said. */
    readonly serverMs?: number;
  }
  | { readonly kind: "invalid"; readonly index: number; readonly error: string }
  | {
    readonly kind: "retry";
    readonly reason: string;
    /** The HTTP status; undefined when no answer came. */
    readonly status?: number;
    readonly retryAfterMs?: number;
  };

/** Ceiling on a `Retry-After`, so a bogus one cannot park the forwarder for hours. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Reads `response` (its body included) into an {@linkcode IngestOutcome}. */
export async function readIngestAnswer(response: Response): Promise<IngestOutcome> {
  let text = "";
  try {
    text = await response.text();
  } catch (error) {
    // The body was lost, not the verdict: a 2xx status already means stored.
    if (!response.ok) {
      return {
        kind: "retry",
        reason: error instanceof Error ? error.message : String(error),
        status: response.status,
      };
    }
  }
  const answer = parseJsonObject(text);
  if (response.ok) {
    const duplicates = typeof answer?.duplicates === "number" ? answer.duplicates : 0;
    const serverMs = parseServerTiming(response.headers.get("server-timing"), "store");
    return serverMs === undefined
      ? { kind: "stored", duplicates }
      : { kind: "stored", duplicates, serverMs };
  }
  const error = typeof answer?.error === "string" ? answer.error : text.slice(0, 200);
  if (response.status === 400 && typeof answer?.index === "number") {
    return { kind: "invalid", index: answer.index, error };
  }
  const reason = `HTTP ${response.status}${error ? `: ${error}` : ""}`;
  const retryAfterMs = response.status === 429 || response.status === 503
    ? parseRetryAfter(response.headers.get("retry-after"), MAX_RETRY_AFTER_MS)
    : undefined;
  return retryAfterMs === undefined
    ? { kind: "retry", reason, status: response.status }
    : { kind: "retry", reason, status: response.status, retryAfterMs };
}

/**
 * Parses a `Retry-After` header (delay-seconds or an HTTP date) into ms,
 * capped at `maxMs`; undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | null, maxMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) {
    ms = Number(trimmed) * 1000;
  } else {
    const date = Date.parse(trimmed);
    if (Number.isNaN(date)) return undefined;
    ms = date - Date.now();
  }
  return Math.min(Math.max(ms, 0), maxMs);
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends with `send` until the answer is not a 503 with `Retry-After` (a
 * full write queue), waiting what each such answer asks (at most 60 s);
 * `onBusy` counts them. For clients that post outside the forwarder.
 */
export async function sendUntilTaken(
  send: () => Promise<Response>,
  onBusy: () => void = () => {},
): Promise<Response> {
  let response = await send();
  let waitMs: number | undefined;
  while (
    response.status === 503 &&
    (waitMs = parseRetryAfter(response.headers.get("retry-after"), 60_000)) !== undefined
  ) {
    await response.body?.cancel();
    onBusy();
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    response = await send();
  }
  return response;
}

/**
 * The `dur` (ms) of metric `name` in a `Server-Timing` header
 * (`store;dur=12.5`); undefined when absent or not a finite number >= 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServerTiming } from "./ingest_answer.ts";
 *
 * assert.equal(parseServerTiming("db;dur=3, store;dur=12.5", "store"), 12.5);
 * assert.equal(parseServerTiming("store", "store"), undefined);
 * assert.equal(parseServerTiming(null, "store"), undefined);
 * ```
 */
export function parseServerTiming(header: string | null, name: string): number | undefined {
  for (const metric of (header ?? "").split(",")) {
    const [metricName, ...params] = metric.split(";").map((part) => part.trim());
    if (metricName !== name) continue;
    for (const param of params) {
      const match = /^dur=([0-9.]+)$/.exec(param);
      const ms = match ? Number(match[1]) : NaN;
      if (Number.isFinite(ms)) return ms;
    }
  }
  return undefined;
}
