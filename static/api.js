// @ts-check
/**
 * The REST calls the dashboard makes (docs/http-api.md), parsed into the
 * page's shapes. Paths are relative to the page, so the dashboard also works
 * behind a reverse proxy that mounts it under a prefix.
 *
 * Over 300 lines on purpose: every REST request the page makes is here, next to
 * the one `getJson` they share and the checks of what comes back, and a
 * third of the file is JSDoc, the page's types.
 *
 * @module
 */

import { QUANTITIES } from "./model.js";
import { observeClock } from "./clock.js";
import { askForToken, authHeaders } from "./token.js";
import { parseApiReading, parseTimestamp } from "./shared/reading.js";

export { serverNow } from "./clock.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").Thresholds} Thresholds */
/** @typedef {import("./sensors.js").SensorSummary} SensorSummary */

/** Largest `limit` the server takes. */
export const PAGE_LIMIT = 10_000;
/** A request that has not answered by then is given up (and retried by the caller). */
const TIMEOUT_MS = 15_000;
/** The header carrying the storage cursor. */
const CURSOR_HEADER = "X-Vigia-Cursor";

/** A non-2xx answer, with the server's `error` text. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * @param {string} path
 * @param {Record<string, string | number | undefined>} params
 * @param {AbortSignal | undefined} signal
 */
async function getJson(path, params, signal) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) query.set(name, String(value));
  }
  const url = query.size > 0 ? `${path}?${query}` : path;
  const send = () => {
    const timeout = AbortSignal.timeout(TIMEOUT_MS);
    return fetch(url, {
      headers: { Accept: "application/json", ...authHeaders() },
      cache: "no-store",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  };
  let sentAt = Date.now();
  let response = await send();
  // The server wants a read token (docs/http-api.md, Access): ask the person, then ask again.
  while (response.status === 401) {
    await response.body?.cancel();
    await askForToken();
    signal?.throwIfAborted();
    sentAt = Date.now();
    response = await send();
  }
  observeClock(response, sentAt);
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      if (typeof body?.error === "string") detail = body.error;
    } catch { /* not JSON: keep the status text */ }
    throw new ApiError(response.status, `Cannot GET ${path}: ${response.status} ${detail}`);
  }
  return { body: /** @type {unknown} */ (await response.json()), response };
}

/**
 * @param {Response} response
 * @param {string} path
 */
function cursorOf(response, path) {
  const cursor = Number(response.headers.get(CURSOR_HEADER));
  if (!response.headers.has(CURSOR_HEADER) || !Number.isSafeInteger(cursor)) {
    throw new ApiError(response.status, `Cannot GET ${path}: no ${CURSOR_HEADER} header`);
  }
  return cursor;
}

/**
 * A time of the API in epoch ms, or NaN when it is not one.
 * @param {unknown} value
 * @returns {number}
 */
function parseTime(value) {
  try {
    return parseTimestamp(value);
  } catch {
    return NaN;
  }
}

/**
 * One reading of the API as the page keeps it, or undefined when it is not a
 * reading (a page never trusts the wire blindly; see `shared/reading.js`).
 * @param {unknown} value
 * @returns {Reading | undefined}
 */
export function parseReading(value) {
  try {
    return parseApiReading(value);
  } catch {
    return undefined;
  }
}

/**
 * @param {unknown} list
 * @returns {Reading[]}
 */
export function parseReadings(list) {
  if (!Array.isArray(list)) return [];
  /** @type {Reading[]} */
  const readings = [];
  for (const item of list) {
    const reading = parseReading(item);
    if (reading) readings.push(reading);
  }
  return readings;
}

/**
 * `GET /api/thresholds`: the safe ranges in force.
 * @param {AbortSignal} [signal]
 * @returns {Promise<Thresholds>}
 */
export async function fetchThresholds(signal) {
  const { body } = await getJson("api/thresholds", {}, signal);
  const document = /** @type {Record<string, {min?: unknown, max?: unknown, unit?: unknown}>} */ (
    body
  );
  /** @type {Partial<Record<Quantity, {min: number, max: number, unit: string}>>} */
  const thresholds = {};
  for (const quantity of QUANTITIES) {
    const range = document?.[quantity];
    if (typeof range?.min !== "number" || typeof range.max !== "number") {
      throw new ApiError(200, `Cannot GET api/thresholds: no range for "${quantity}"`);
    }
    thresholds[quantity] = {
      min: range.min,
      max: range.max,
      unit: typeof range.unit === "string" ? range.unit : "",
    };
  }
  return /** @type {Thresholds} */ (thresholds);
}

/**
 * `GET /api/sensors`: every sensor with stored readings.
 * @param {AbortSignal} [signal]
 * @returns {Promise<SensorSummary[]>}
 */
export async function fetchSensors(signal) {
  const { body } = await getJson("api/sensors", {}, signal);
  if (!Array.isArray(body)) return [];
  /** @type {SensorSummary[]} */
  const sensors = [];
  for (const item of body) {
    if (!Number.isSafeInteger(item?.id)) continue;
    sensors.push({
      id: item.id,
      readings: Number(item.readings) || 0,
      firstSeen: parseTime(item.first_seen),
      lastSeen: parseTime(item.last_seen),
      last: parseReading(item.last),
    });
  }
  return sensors;
}

/**
 * `GET /api/readings?since=…`, paged backwards in time until the window is
 * covered or `maxReadings` are in hand (then `truncated` is set and the
 * oldest part of the window is missing). `cursor` is the storage cursor of
 * the first answer: following from it misses nothing stored since.
 * @param {number} sinceMs
 * @param {{signal?: AbortSignal, maxReadings?: number}} [options]
 */
export async function fetchRecent(sinceMs, options = {}) {
  const maxReadings = options.maxReadings ?? 50_000;
  /** @type {Reading[]} */
  const readings = [];
  /** @type {number | undefined} */
  let cursor;
  /** @type {number | undefined} */
  let until;
  while (true) {
    const { body, response } = await getJson(
      "api/readings",
      { since: Math.floor(sinceMs), until, limit: PAGE_LIMIT },
      options.signal,
    );
    cursor ??= cursorOf(response, "api/readings");
    const page = parseReadings(body);
    readings.push(...page);
    if (page.length < PAGE_LIMIT) return { readings, cursor, truncated: false };
    // Newest first: continue below the oldest timestamp. `until` is
    // exclusive, so ask up to and including it again; the window drops the
    // repeats by (id, seq, timestamp).
    const oldest = page.at(-1)?.t ?? sinceMs;
    if (until !== undefined && oldest + 1 >= until) break;
    if (readings.length >= maxReadings) break;
    until = oldest + 1;
  }
  return { readings, cursor, truncated: true };
}

/**
 * `GET /api/readings?after=<cursor>`: one page of the readings stored after
 * `cursor`, oldest first, and the cursor of the last one.
 * @param {number} cursor
 * @param {AbortSignal} [signal]
 */
export async function fetchAfter(cursor, signal) {
  const { body, response } = await getJson(
    "api/readings",
    { after: cursor, limit: PAGE_LIMIT },
    signal,
  );
  return { readings: parseReadings(body), cursor: cursorOf(response, "api/readings") };
}

/**
 * The storage cursor now (`GET /api/readings?limit=1`'s header).
 * @param {AbortSignal} [signal]
 */
export async function fetchCursor(signal) {
  const { response } = await getJson("api/readings", { limit: 1 }, signal);
  return cursorOf(response, "api/readings");
}

/** @typedef {{min: number, avg: number, max: number, count: number}} SeriesStats */

/**
 * One bucket of `/api/series`: per quantity its statistics and how many
 * readings they stand for, or `null` when no reading of the bucket measured
 * it.
 * @typedef {{t: number, count: number} & Record<Quantity, SeriesStats | null>} SeriesPoint
 */

/**
 * `GET /api/series`: min/avg/max per bucket of every sensor in [since, until).
 * @param {{sinceMs: number, untilMs: number, bucketMs: number}} window
 * @param {AbortSignal} [signal]
 * @returns {Promise<{sinceMs: number, bucketMs: number, series: {id: number, points: SeriesPoint[]}[]}>}
 */
export async function fetchSeries(window, signal) {
  const { body } = await getJson("api/series", {
    since: Math.floor(window.sinceMs),
    until: Math.floor(window.untilMs),
    bucket: Math.max(1, Math.round(window.bucketMs / 1000)),
  }, signal);
  const document = /** @type {{since?: unknown, bucket?: unknown, series?: unknown}} */ (body);
  const series = [];
  for (const item of Array.isArray(document?.series) ? document.series : []) {
    if (!Number.isSafeInteger(item?.id) || !Array.isArray(item.points)) continue;
    /** @type {SeriesPoint[]} */
    const points = [];
    for (const point of item.points) {
      const parsed = parseSeriesPoint(point);
      if (parsed) points.push(parsed);
    }
    series.push({ id: Number(item.id), points });
  }
  const since = parseTime(document?.since);
  const bucket = Number(document?.bucket);
  return {
    sinceMs: Number.isFinite(since) ? since : window.sinceMs,
    bucketMs: bucket > 0 ? bucket * 1000 : window.bucketMs,
    series,
  };
}

/**
 * One bucket of `/api/series`, or undefined when it is not one.
 * @param {unknown} value
 * @returns {SeriesPoint | undefined}
 */
export function parseSeriesPoint(value) {
  if (typeof value !== "object" || value === null) return undefined;
  const point = /** @type {Record<string, unknown>} */ (value);
  const t = parseTime(point["t"]);
  const count = Number(point["count"]);
  if (!Number.isFinite(t) || !(count >= 0)) return undefined;
  /** @type {Partial<Record<Quantity, SeriesStats | null>>} */
  const stats = {};
  let measured = false;
  for (const quantity of QUANTITIES) {
    const entry = /** @type {Record<string, unknown> | null | undefined} */ (point[quantity]);
    if (entry === null || entry?.["avg"] === null) {
      stats[quantity] = null;
      continue;
    }
    const { min, avg, max } = entry ?? {};
    if (typeof min !== "number" || typeof avg !== "number" || typeof max !== "number") {
      return undefined;
    }
    // A per-quantity count, where the server gives one, weighs live readings right.
    const own = Number(entry?.["count"]);
    stats[quantity] = { min, avg, max, count: own >= 0 ? own : count };
    measured = true;
  }
  if (!measured) return undefined;
  return { t, count, .../** @type {Record<Quantity, SeriesStats | null>} */ (stats) };
}
