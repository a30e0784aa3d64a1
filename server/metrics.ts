/**
 * The server's counters in the Prometheus text format (version 0.0.4), for
 * `GET /metrics`. Labels come from fixed sets (route names of the route
 * table, methods, statuses), never from what a client sends, so the number
 * of series stays bounded.
 *
 * | metric | type | labels |
 * | --- | --- | --- |
 * | `vigia_http_requests_total` | counter | `route`, `method`, `status` |
 * | `vigia_http_request_duration_seconds` | histogram | `route` |
 * | `vigia_readings_stored_total` | counter | |
 * | `vigia_readings_duplicate_total` | counter | |
 * | `vigia_readings_rejected_total` | counter (invalid requests to `/api/data`) | |
 * | `vigia_store_commits_total` | counter | |
 * | `vigia_store_commit_duration_seconds` | histogram | |
 * | `vigia_reading_freshness_seconds` | histogram (sensor timestamp to durably stored) | |
 * | `vigia_reading_freshness_max_seconds` | gauge (largest of the last 10 s) | |
 * | `vigia_retention_deleted_total` | counter | |
 * | `vigia_live_clients` | gauge | |
 * | `vigia_live_dropped_total` | counter (slow clients disconnected) | |
 * | `vigia_database_size_bytes` | gauge | |
 * | `vigia_newest_cursor` | gauge | |
 * | `vigia_write_queue_readings` | gauge (received, not yet answered) | |
 * | `vigia_write_queue_wait_seconds` | gauge (estimated wait of a write arriving now) | |
 *
 * @module
 */

import { Histogram, LabelledCounter, LabelledHistograms, MetricsRegistry } from "../lib/metrics.ts";

/** Upper bounds of the latency histograms, in seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] as const;

/**
 * Upper bounds of the freshness histogram, in seconds: fine where a healthy
 * pipeline lives (tens of ms, so a p99 against a 100 ms goal reads within a
 * few ms), then coarse up to an hour for a backlog after an outage.
 */
const FRESHNESS_BUCKETS = [
  0.005,
  0.01,
  0.02,
  0.03,
  0.04,
  0.05,
  0.06,
  0.07,
  0.08,
  0.09,
  0.1,
  0.125,
  0.15,
  0.175,
  0.2,
  0.25,
  0.3,
  0.4,
  0.5,
  0.75,
  1,
  1.5,
  2,
  3,
  5,
  7.5,
  10,
  15,
  20,
  30,
  45,
  60,
  120,
  300,
  900,
  3600,
] as const;
/** Seconds the freshness maximum looks back. */
const FRESHNESS_MAX_WINDOW_S = 10;

/**
 * The largest value seen in the last {@linkcode FRESHNESS_MAX_WINDOW_S}
 * seconds, in one slot per second: a scrape-independent "worst right now"
 * that a histogram cannot give.
 */
class RecentMax {
  #second = new Float64Array(FRESHNESS_MAX_WINDOW_S).fill(-Infinity);
  #max = new Float64Array(FRESHNESS_MAX_WINDOW_S);

  observe(value: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const slot = second % FRESHNESS_MAX_WINDOW_S;
    if (this.#second[slot] !== second) {
      this.#second[slot] = second;
      this.#max[slot] = value;
    } else if (value > this.#max[slot]!) {
      this.#max[slot] = value;
    }
  }

  value(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    let max = 0;
    for (let slot = 0; slot < FRESHNESS_MAX_WINDOW_S; slot++) {
      if (second - this.#second[slot]! < FRESHNESS_MAX_WINDOW_S) {
        max = Math.max(max, this.#max[slot]!);
      }
    }
    return max;
  }
}

/** Gauges read when `/metrics` is scraped. */
export interface MetricsGauges {
  readonly databaseBytes: number;
  readonly liveClients: number;
  readonly newestCursor: number;
  /** Readings waiting for the writer, and the estimated wait of a write arriving now. */
  readonly writeQueue: { readonly readings: number; readonly waitSeconds: number };
}

/** The server's counters. */
export class Metrics {
  #requests = new LabelledCounter();
  #latency = new LabelledHistograms(BUCKETS);
  #commits = new Histogram(BUCKETS);
  #freshness = new Histogram(FRESHNESS_BUCKETS);
  #freshnessMax = new RecentMax();
  /** What the scrape being rendered passed in (see {@linkcode render}). */
  #scrape: { gauges: MetricsGauges; nowMs: number } | undefined;
  #registry: MetricsRegistry;
  stored = 0;
  duplicates = 0;
  rejected = 0;
  retentionDeleted = 0;
  liveDropped = 0;

  constructor() {
    const gauge = (read: (scrape: { gauges: MetricsGauges; nowMs: number }) => number) => () =>
      read(this.#scrape!);
    this.#registry = new MetricsRegistry()
      .counter(
        "vigia_http_requests_total",
        "HTTP requests answered, by route, method and status.",
        this.#requests,
      )
      .histogram(
        "vigia_http_request_duration_seconds",
        "Time to answer a request, by route.",
        this.#latency,
      )
      .counter("vigia_readings_stored_total", "Readings stored.", () => this.stored)
      .counter(
        "vigia_readings_duplicate_total",
        "Readings received again and not stored twice.",
        () => this.duplicates,
      )
      .counter(
        "vigia_readings_rejected_total",
        "Write requests refused (400, 401, 413, 415).",
        () => this.rejected,
      )
      .counter(
        "vigia_store_commits_total",
        "Store transactions committed.",
        () => this.#commits.count,
      )
      .histogram(
        "vigia_store_commit_duration_seconds",
        "Time to write and commit a group.",
        this.#commits,
      )
      .histogram(
        "vigia_reading_freshness_seconds",
        "Age of a reading (since its sensor timestamp) when it was durably stored.",
        this.#freshness,
      )
      .gauge(
        "vigia_reading_freshness_max_seconds",
        `Largest age of a reading stored in the last ${FRESHNESS_MAX_WINDOW_S} seconds.`,
        gauge(({ nowMs }) => this.#freshnessMax.value(nowMs)),
      )
      .counter(
        "vigia_retention_deleted_total",
        "Readings deleted by --retain-days.",
        () => this.retentionDeleted,
      )
      .gauge(
        "vigia_live_clients",
        "Connected /api/live WebSocket clients.",
        gauge(({ gauges }) => gauges.liveClients),
      )
      .counter(
        "vigia_live_dropped_total",
        "Live clients disconnected for not keeping up.",
        () => this.liveDropped,
      )
      .gauge(
        "vigia_database_size_bytes",
        "Size of the database file and its write-ahead log.",
        gauge(({ gauges }) => gauges.databaseBytes),
      )
      .gauge(
        "vigia_newest_cursor",
        "Cursor of the newest stored reading.",
        gauge(({ gauges }) => gauges.newestCursor),
      )
      .gauge(
        "vigia_write_queue_readings",
        "Readings of write requests received and not yet answered.",
        gauge(({ gauges }) => gauges.writeQueue.readings),
      )
      .gauge(
        "vigia_write_queue_wait_seconds",
        "Estimated wait for the writer of a write arriving now (over --write-queue-ms: 503).",
        gauge(({ gauges }) => gauges.writeQueue.waitSeconds),
      );
  }

  /** Counts one answered request. `route` is a route table name. */
  request(route: string, method: string, status: number, seconds: number): void {
    this.#requests.add({ route, method, status });
    this.#latency.get({ route }).observe(seconds);
  }

  /** Counts one commit of the store. */
  commit(stored: number, duplicates: number, seconds: number): void {
    this.stored += stored;
    this.duplicates += duplicates;
    this.#commits.observe(seconds);
  }

  /**
   * Records how old each of `readings` was when it became durable at
   * `nowMs` (epoch ms): the end-to-end freshness, from the sensor's
   * timestamp through gateway, spool and forwarder to the fsync here.
   * A reading stamped in the future (a sensor's clock ahead) counts as 0.
   */
  observeFreshness(readings: readonly { readonly timestamp: number }[], nowMs: number): void {
    let max = 0;
    for (const reading of readings) {
      const seconds = Math.max(0, nowMs - reading.timestamp) / 1000;
      this.#freshness.observe(seconds);
      if (seconds > max) max = seconds;
    }
    if (readings.length > 0) this.#freshnessMax.observe(max, nowMs);
  }

  /**
   * The exposition text. The gauges the store and the live hub own are
   * passed in by the scrape (they live beside the handler, not here).
   */
  render(gauges: MetricsGauges, nowMs: number = Date.now()): string {
    this.#scrape = { gauges, nowMs };
    try {
      return this.#registry.render();
    } finally {
      this.#scrape = undefined;
    }
  }
}
