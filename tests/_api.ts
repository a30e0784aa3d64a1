/**
 * The server's HTTP API as the tests feed it: a reading in the shape
 * `POST /api/data` takes (docs/http-api.md), one valid example of it built
 * by the tests' one reading factory (_reading.ts), the
 * authenticated POST itself, and a value read from a `/metrics` page.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseMetrics } from "../lib/metrics.ts";
import { type ReadingJson, readingToObject } from "../protocol/mod.ts";
import { testReading } from "./_reading.ts";

/** A reading as `POST /api/data` takes it: its JSON form, with `timestamp` ISO 8601 or epoch ms. */
export type ApiReading = {
  -readonly [K in keyof ReadingJson]: K extends "timestamp" ? string | number : ReadingJson[K];
};

/**
 * A valid API reading of sensor 7 (seq 1, 2026-11-24T10:00:00.000Z,
 * 21.5 °C, 1013.25 hPa, 45.1 %) with `overrides`, which may replace a field
 * with a value of any type (for the tests of what the server refuses).
 */
export function apiReading<T extends object = Partial<ApiReading>>(
  overrides: T = {} as T,
): Omit<ApiReading, keyof T> & T {
  const reading = testReading(7, 1, {
    timestamp: Date.UTC(2026, 10, 24, 10),
    temperature: 2150,
    pressure: 101325,
    humidity: 4510,
  });
  return { ...readingToObject(reading), ...overrides };
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
  const value = parseMetrics(text).get(name);
  assert.ok(value !== undefined, `no ${name} in:\n${text}`);
  return value;
}
