/**
 * The OPC UA source's metrics on the gateway's `/metrics`, per server:
 * `vigia_opcua_notifications_total`, `vigia_opcua_errors_total{kind}`,
 * `vigia_opcua_server_up` and `vigia_opcua_readings_total`.
 *
 * @module
 */

import { LabelledCounter, type Labels, MetricsRegistry } from "../lib/metrics.ts";

/** The kinds of `vigia_opcua_errors_total`. */
export const OPCUA_ERROR_KINDS = ["connect", "certificate", "node", "value", "session"] as const;
/** One of {@linkcode OPCUA_ERROR_KINDS}. */
export type OpcuaErrorKind = typeof OPCUA_ERROR_KINDS[number];

/**
 * The `vigia_opcua_*` metrics of every server, in one registry: counters by
 * label set, the up gauge read from the sources' state at render.
 */
export class OpcuaMetrics {
  readonly notifications: LabelledCounter = new LabelledCounter();
  readonly readings: LabelledCounter = new LabelledCounter();
  readonly errors: LabelledCounter = new LabelledCounter();
  /** Per server: 1 while its session and subscription are up, else 0. */
  readonly up: Map<string, number> = new Map();
  readonly registry: MetricsRegistry = new MetricsRegistry()
    .counter(
      "vigia_opcua_notifications_total",
      "Publish notifications carrying data changes, per server.",
      this.notifications,
    )
    .counter(
      "vigia_opcua_errors_total",
      "Failed connects, refused certificates, unmonitorable nodes, unusable values and lost or refused sessions, per server and kind.",
      this.errors,
    )
    .gauge(
      "vigia_opcua_server_up",
      "1 while the server's session and subscription are up, else 0.",
      () => byServer(this.up),
    )
    .counter(
      "vigia_opcua_readings_total",
      "Readings made from data changes and queued for the spool, per server.",
      this.readings,
    );

  /** Creates every series of `server` at 0, so rates work from the first scrape. */
  addServer(server: string): void {
    this.notifications.add({ server }, 0);
    this.readings.add({ server }, 0);
    for (const kind of OPCUA_ERROR_KINDS) this.errors.add({ server, kind }, 0);
    this.up.set(server, 0);
  }
}

function* byServer(values: ReadonlyMap<string, number>): Iterable<readonly [Labels, number]> {
  for (const [server, value] of values) yield [{ server }, value];
}
