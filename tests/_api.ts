/**
 * The server's HTTP API as the tests feed it: a reading in the shape
 * `POST /api/data` takes (docs/http-api.md), one valid example of it, the
 * authenticated POST itself, and a value read from a `/metrics` page.
 *
 * @module
 */

import assert from "node:assert/strict";

/** A reading as `POST /api/data` takes it: `timestamp` ISO 8601 or epoch ms, values in units. */
export interface ApiReading {
  id: number;
  seq: number;
  timestamp: string | number;
  temperature: number | null;
  pressure: number | null;
  humidity: number | null;
}

/**
 * A valid API reading of sensor 7 (seq 1, 2026-11-24T10:00:00.000Z,
 * 21.5 °C, 1013.25 hPa, 45.1 %) with `overrides`, which may replace a field
 * with a value of any type (for the tests of what the server refuses).
 */
export function apiReading<T extends object = Partial<ApiReading>>(
  overrides: T = {} as T,
): Omit<ApiReading, keyof T> & T {
  return {
    id: 7,
    seq: 1,
    timestamp: "2026-11-24T10:00:00.000Z",
    temperature: 21.5,
    pressure: 1013.25,
    humidity: 45.1,
    ...overrides,
  };
}

/** `POST /api/data` of `readings` to the server at `baseUrl` with `token`; the answer unread. */
export function postReadings(
  baseUrl: string,
  token: string,
  readings: readonly unknown[],
  options: { signal?: AbortSignal } = {},
): Promise<Response> {
  return fetch(`${baseUrl}/api/data`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(readings),
    ...options,
  });
}

/** The value of the sample `name` (labels included, e.g. `x_bucket{le="50"}`) in a Prometheus text page. */
export function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name.replace(/[{}".+]/g, "\\$&")} (\\S+)$`, "m").exec(text);
  assert.ok(match, `no ${name} in:\n${text}`);
  return Number(match[1]);
}
