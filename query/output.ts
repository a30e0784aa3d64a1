/**
 * How the query client prints its events on stdout (its product; logs go to
 * stderr): one human line per event in the original client's style, or one
 * JSON object per line with `--json`.
 *
 * Times are UTC, so a line reads the same on every machine and matches the
 * API's timestamps: a reading's own timestamp for events a reading caused
 * (`alert`, `recovered`, `reporting`), the client's clock for `stale`.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEvent } from "./output.ts";
 *
 * const line = formatEvent({
 *   type: "alert", sensor: 7, quantity: "temperature", value: 150.61, unit: "°C",
 *   limit: "max", threshold: 85, timestamp: Date.UTC(2026, 10, 24, 10, 21, 10), seq: 42,
 * });
 * assert.equal(line, "[2026-11-24 10:21:10] ALERT sensor 7: temperature 150.61 °C above 85.00");
 * ```
 *
 * @module
 */

import type { AlarmEvent } from "./alarms.ts";

/** Options of {@linkcode formatEvent}. */
export interface FormatOptions {
  /** One JSON object instead of a human line. */
  readonly json?: boolean;
}

/** Formats one event as a line (without the newline). */
export function formatEvent(event: AlarmEvent, options: FormatOptions = {}): string {
  return options.json ? JSON.stringify(eventToJson(event)) : formatHuman(event);
}

/**
 * The JSON form of an event: `event` names the type, `timestamp` is ISO 8601
 * UTC; range events carry `quantity`, `value`, `unit` and the limits,
 * staleness events `silent_s`.
 */
export function eventToJson(event: AlarmEvent): Record<string, unknown> {
  const timestamp = new Date(event.timestamp).toISOString();
  switch (event.type) {
    case "alert":
      return {
        event: "alert",
        sensor: event.sensor,
        quantity: event.quantity,
        value: event.value,
        unit: event.unit,
        limit: event.limit,
        threshold: event.threshold,
        timestamp,
        seq: event.seq,
      };
    case "recovered":
      return {
        event: "recovered",
        sensor: event.sensor,
        quantity: event.quantity,
        value: event.value,
        unit: event.unit,
        min: event.min,
        max: event.max,
        timestamp,
        seq: event.seq,
      };
    case "stale":
      return {
        event: "stale",
        sensor: event.sensor,
        silent_s: Math.round(event.silentMs / 1000),
        timestamp,
      };
    case "reporting":
      return { event: "reporting", sensor: event.sensor, timestamp, seq: event.seq };
  }
}

function formatHuman(event: AlarmEvent): string {
  const time = new Date(event.timestamp).toISOString().slice(0, 19).replace("T", " ");
  const prefix = `[${time}]`;
  switch (event.type) {
    case "alert": {
      const side = event.limit === "max" ? "above" : "below";
      return `${prefix} ALERT sensor ${event.sensor}: ${event.quantity} ` +
        `${fixed(event.value)} ${event.unit} ${side} ${fixed(event.threshold)}`;
    }
    case "recovered":
      return `${prefix} RECOVERED sensor ${event.sensor}: ${event.quantity} ` +
        `${fixed(event.value)} ${event.unit} back in range (${fixed(event.min)}…${
          fixed(event.max)
        })`;
    case "stale":
      return `${prefix} STALE sensor ${event.sensor}: no reading for ` +
        `${Math.round(event.silentMs / 1000)} s`;
    case "reporting":
      return `${prefix} RECOVERED sensor ${event.sensor}: reporting again`;
  }
}

function fixed(value: number): string {
  return value.toFixed(2);
}

const encoder = new TextEncoder();

/** Writes a whole line to stdout, looping because a pipe may take it in parts. */
export function writeStdout(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}
