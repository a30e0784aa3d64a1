/**
 * The Modbus source's metrics on the gateway's `/metrics`, per device:
 * `vigia_modbus_polls_total`, `vigia_modbus_errors_total{kind}`,
 * `vigia_modbus_device_up`, `vigia_modbus_poll_seconds` and
 * `vigia_modbus_readings_total`.
 *
 * @module
 */

import { LabelledCounter, type Labels, MetricsRegistry } from "../lib/metrics.ts";

/** The kinds of `vigia_modbus_errors_total`. */
export const MODBUS_ERROR_KINDS = [
  "connect",
  "timeout",
  "exception",
  "mismatch",
  "value",
  "overrun",
] as const;
/** One of {@linkcode MODBUS_ERROR_KINDS}. */
export type ModbusErrorKindName = typeof MODBUS_ERROR_KINDS[number];

/**
 * The `vigia_modbus_*` metrics of every device, in one registry: counters
 * by label set, gauges read from the pollers' last values at render.
 */
export class ModbusMetrics {
  readonly polls: LabelledCounter = new LabelledCounter();
  readonly readings: LabelledCounter = new LabelledCounter();
  readonly errors: LabelledCounter = new LabelledCounter();
  /** Per device: 1 when its last poll got every response, else 0. */
  readonly up: Map<string, number> = new Map();
  /** Per device: its last poll's duration in seconds. */
  readonly pollSeconds: Map<string, number> = new Map();
  readonly registry: MetricsRegistry = new MetricsRegistry()
    .counter("vigia_modbus_polls_total", "Polls started, per device.", this.polls)
    .counter(
      "vigia_modbus_errors_total",
      "Failed connects and requests, unstorable values and skipped polls, per device and kind.",
      this.errors,
    )
    .gauge(
      "vigia_modbus_device_up",
      "1 when the device's last poll got every response, else 0.",
      () => byDevice(this.up),
    )
    .gauge(
      "vigia_modbus_poll_seconds",
      "Duration of the device's last poll.",
      () => byDevice(this.pollSeconds),
    )
    .counter(
      "vigia_modbus_readings_total",
      "Readings made from polled registers and queued for the spool, per device.",
      this.readings,
    );

  /** Creates every series of `device` at 0, so rates work from the first scrape. */
  addDevice(device: string): void {
    this.polls.add({ device }, 0);
    this.readings.add({ device }, 0);
    for (const kind of MODBUS_ERROR_KINDS) this.errors.add({ device, kind }, 0);
    this.up.set(device, 0);
    this.pollSeconds.set(device, 0);
  }
}

function* byDevice(values: ReadonlyMap<string, number>): Iterable<readonly [Labels, number]> {
  for (const [device, value] of values) yield [{ device }, value];
}
