/**
 * The gateway's counters and gauges, one table: the periodic `stats` log
 * line and the Prometheus text of `/metrics` are both generated from it, so
 * the two can never disagree about a name or a meaning.
 *
 * The hot path increments plain numeric fields (`metrics.values.readings++`),
 * which costs nothing measurable per reading. Gauges have no field: each is
 * read from the part that owns it (the spool's depth, the listener's
 * sessions) whenever the table is rendered.
 *
 * @module
 */

import type { LogFields } from "../lib/log.ts";
import { MetricsRegistry } from "../lib/metrics.ts";

/** Every metric: its kind and its help text. Names are as they appear in logs and `/metrics` (prefixed `vigia_gateway_`). */
export const GATEWAY_METRICS = {
  connections_accepted: ["counter", "TLS sessions established with a valid sensor identity"],
  connections_active: ["gauge", "Sensor sessions open now"],
  connections_refused: [
    "counter",
    "Connections closed at once because --max-connections was reached",
  ],
  tls_rejected: [
    "counter",
    "Connections whose TLS handshake failed: no or untrusted certificate, plaintext, timeout",
  ],
  identity_rejected: [
    "counter",
    "Certificates whose CN is not sensor-<id>, and readings for another sensor id (ERROR 2)",
  ],
  frames: ["counter", "Intact frames received"],
  readings: ["counter", "Intact READING frames received"],
  crc_failures: ["counter", "Frames dropped for a CRC mismatch"],
  corrupt_closes: ["counter", "Connections closed after 10 corrupt frames in a row (ERROR 3)"],
  framing_errors: [
    "counter",
    "Connections closed for lost framing or an invalid timestamp (ERROR 1)",
  ],
  unknown_frames: ["counter", "Well-formed frames of a type a sensor should not send, ignored"],
  idle_timeouts: ["counter", "Connections closed for idleness (ERROR 5)"],
  overload_refusals: ["counter", "Connections refused because the spool is full (ERROR 4)"],
  room_holds: [
    "counter",
    "Times a connection was held (not read) because the spool was full while the server drained it",
  ],
  slow_readers: ["counter", "Connections closed because the peer does not read its ACKs"],
  acks: ["counter", "ACK frames sent"],
  commits: ["counter", "Spool transactions committed"],
  commit_failures: ["counter", "Spool transactions that failed (their readings were not ACKed)"],
  spool_depth: ["gauge", "Readings in the spool waiting to be forwarded"],
  spool_batches: ["gauge", "Rows (committed batches) in the spool"],
  admission_limit: [
    "gauge",
    "Readings the spool takes before sensors are held: --backlog-ms plus two network round trips of forwarding, or --spool-max while forwarding stalls",
  ],
  drain_rate: ["gauge", "Readings per second the server stored, measured while forwarding"],
  forward_round_trip_seconds: [
    "gauge",
    "The least round trip of the last 16 requests answered 2xx, less the server's own time (Server-Timing)",
  ],
  forwarded: ["counter", "Readings the server answered 2xx for, deleted from the spool"],
  forward_requests: ["counter", "POST /api/data requests answered 2xx"],
  forward_duplicates: ["counter", "Readings the server reported as already stored"],
  forward_retries: ["counter", "POST /api/data attempts that failed and will be retried"],
  forward_rejected: [
    "counter",
    "Readings the server refused as invalid (400), moved to the spool's rejected table",
  ],
} as const;

/** The name of a gateway metric. */
export type GatewayMetricName = keyof typeof GATEWAY_METRICS;

/** The name of a gateway counter. */
export type GatewayCounterName = {
  [K in GatewayMetricName]: (typeof GATEWAY_METRICS)[K][0] extends "counter" ? K : never;
}[GatewayMetricName];

/** The name of a gateway gauge. */
export type GatewayGaugeName = Exclude<GatewayMetricName, GatewayCounterName>;

const NAMES = Object.keys(GATEWAY_METRICS) as GatewayMetricName[];
const COUNTERS = NAMES.filter((name) =>
  GATEWAY_METRICS[name][0] === "counter"
) as GatewayCounterName[];

/** Current values of every metric: counters mutated in place, gauges read from their owners. */
export class GatewayMetrics {
  readonly values: Record<GatewayCounterName, number>;
  #gauges = new Map<GatewayGaugeName, () => number>();
  #registry = new MetricsRegistry();

  constructor() {
    this.values = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<
      GatewayCounterName,
      number
    >;
    for (const name of NAMES) {
      const [kind, help] = GATEWAY_METRICS[name];
      if (kind === "counter") {
        const counter = name as GatewayCounterName;
        this.#registry.counter(`vigia_gateway_${name}_total`, help, () => this.values[counter]);
      } else {
        this.#registry.gauge(
          `vigia_gateway_${name}`,
          help,
          () => this.gauge(name as GatewayGaugeName),
        );
      }
    }
  }

  /** Makes gauge `name` read `read()` from now on (0 until then). */
  readGauge(name: GatewayGaugeName, read: () => number): void {
    this.#gauges.set(name, read);
  }

  /** The current value of gauge `name`. */
  gauge(name: GatewayGaugeName): number {
    return this.#gauges.get(name)?.() ?? 0;
  }

  /** Every metric as log fields, for the `stats` line, in the table's order. */
  toLogFields(): LogFields {
    const fields: Record<string, number> = {};
    for (const name of NAMES) {
      fields[name] = GATEWAY_METRICS[name][0] === "counter"
        ? this.values[name as GatewayCounterName]
        : this.gauge(name as GatewayGaugeName);
    }
    return fields;
  }

  /** The Prometheus text exposition (format 0.0.4). */
  toPrometheus(): string {
    return this.#registry.render();
  }
}
