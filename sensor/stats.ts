/**
 * Figures a sensor process reports: its counters, the send-to-ACK latency
 * histogram, and the `summary` line the tests, the demo and the benchmark parse.
 *
 * @module
 */

import type { LogFields } from "../lib/log.ts";
import { Histogram } from "../lib/metrics.ts";

/** Counters of a sensor process, shared by its links. */
export interface SensorCounters {
  /** Readings measured. */
  generated: number;
  /** Readings sent for the first time. */
  sent: number;
  /** Readings sent again after a reconnect. */
  resent: number;
  /** Readings the gateway acknowledged. */
  acknowledged: number;
  /** Readings dropped because the queue bound was hit. */
  dropped: number;
  /** Connections established (TLS handshake done). */
  connects: number;
  /** Connection attempts that failed. */
  connectFailures: number;
  /** Connections closed for lack of ACK progress. */
  ackTimeouts: number;
  /** ERROR frames received, by code. */
  errors: Record<number, number>;
  /** Links connected now. */
  connected: number;
}

/** Creates zeroed counters. */
export function createCounters(): SensorCounters {
  return {
    generated: 0,
    sent: 0,
    resent: 0,
    acknowledged: 0,
    dropped: 0,
    connects: 0,
    connectFailures: 0,
    ackTimeouts: 0,
    errors: {},
    connected: 0,
  };
}

/** 1 ms steps up to 10 s; a quantile is reported as its bucket's upper end, in ms. */
const LATENCY_BOUNDS_MS: readonly number[] = Array.from({ length: 10_001 }, (_, i) => i + 1);

/** Send-to-ACK latency in ms, weighted by readings (`observe(ms, readings)`). */
export class LatencyHistogram extends Histogram {
  constructor() {
    super(LATENCY_BOUNDS_MS);
  }
}

/**
 * The fields of the `summary` line:
 * `summary sensors=N sent=… acknowledged=… resent=… dropped=… pending=… …`.
 * `sent` counts first transmissions only, `resent` the retransmissions after
 * a reconnect, `pending` what is still unacknowledged at exit.
 */
export function summaryFields(
  counters: SensorCounters,
  extra: { sensors: number; pending: number; elapsedMs: number; latency: LatencyHistogram },
): LogFields {
  const errors = Object.entries(counters.errors).map(([code, n]) => `${code}:${n}`).join(",");
  const seconds = extra.elapsedMs / 1000;
  return {
    sensors: extra.sensors,
    sent: counters.sent,
    acknowledged: counters.acknowledged,
    resent: counters.resent,
    dropped: counters.dropped,
    pending: extra.pending,
    generated: counters.generated,
    connects: counters.connects,
    connect_failures: counters.connectFailures,
    ack_timeouts: counters.ackTimeouts,
    errors: errors || "none",
    elapsed_s: Math.round(seconds * 10) / 10,
    ack_per_s: seconds > 0 ? Math.round(counters.acknowledged / seconds) : 0,
    ack_p50_ms: extra.latency.quantile(0.5),
    ack_p99_ms: extra.latency.quantile(0.99),
  };
}
