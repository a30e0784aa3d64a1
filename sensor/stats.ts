/**
 * Figures a sensor process reports: its counters, the send-to-ACK latency
 * histogram, and the `summary` line the tests, the demo and the benchmark parse.
 *
 * @module
 */

import type { LogFields } from "../lib/log.ts";

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

const MAX_TRACKED_MS = 10_000;

/** Send-to-ACK latency in 1 ms buckets up to 10 s (beyond lands in the last bucket). */
export class LatencyHistogram {
  #buckets = new Float64Array(MAX_TRACKED_MS + 1);
  #total = 0;

  /** Records `weight` readings that waited `ms` for their ACK. */
  record(ms: number, weight = 1): void {
    const bucket = Math.min(MAX_TRACKED_MS, Math.max(0, Math.floor(ms)));
    this.#buckets[bucket]! += weight;
    this.#total += weight;
  }

  /** Readings recorded. */
  get count(): number {
    return this.#total;
  }

  /** The `q` quantile (0..1) in ms, rounded up to the bucket's end; undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#total === 0) return undefined;
    const target = q * this.#total;
    let seen = 0;
    for (let ms = 0; ms <= MAX_TRACKED_MS; ms++) {
      seen += this.#buckets[ms]!;
      if (seen >= target && seen > 0) return ms + 1;
    }
    return MAX_TRACKED_MS;
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
