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
 *
 * @module
 */

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

class Histogram {
  readonly bounds: readonly number[];
  readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(bounds: readonly number[] = BUCKETS) {
    this.bounds = bounds;
    this.counts = new Array(bounds.length).fill(0);
  }

  observe(seconds: number, weight = 1): void {
    this.count += weight;
    this.sum += seconds * weight;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        this.counts[i]! += weight;
        break;
      }
    }
  }

  lines(name: string, labels: string): string[] {
    const lines: string[] = [];
    const sep = labels ? "," : "";
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      lines.push(`${name}_bucket{${labels}${sep}le="${bound}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    const suffix = labels ? `{${labels}}` : "";
    lines.push(`${name}_sum${suffix} ${this.sum}`, `${name}_count${suffix} ${this.count}`);
    return lines;
  }
}

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
}

/** The server's counters. */
export class Metrics {
  #requests = new Map<string, number>();
  #latency = new Map<string, Histogram>();
  #commits = new Histogram();
  #freshness = new Histogram(FRESHNESS_BUCKETS);
  #freshnessMax = new RecentMax();
  stored = 0;
  duplicates = 0;
  rejected = 0;
  retentionDeleted = 0;
  liveDropped = 0;

  /** Counts one answered request. `route` is a route table name. */
  request(route: string, method: string, status: number, seconds: number): void {
    const key = `route="${route}",method="${method}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    let histogram = this.#latency.get(route);
    if (histogram === undefined) {
      histogram = new Histogram();
      this.#latency.set(route, histogram);
    }
    histogram.observe(seconds);
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

  /** The exposition text. */
  render(gauges: MetricsGauges, nowMs: number = Date.now()): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family(
      "vigia_http_requests_total",
      "counter",
      "HTTP requests answered, by route, method and status.",
    );
    for (const [labels, value] of [...this.#requests].sort()) {
      lines.push(`vigia_http_requests_total{${labels}} ${value}`);
    }
    family(
      "vigia_http_request_duration_seconds",
      "histogram",
      "Time to answer a request, by route.",
    );
    for (const [route, histogram] of [...this.#latency].sort()) {
      lines.push(...histogram.lines("vigia_http_request_duration_seconds", `route="${route}"`));
    }
    const scalar = (name: string, type: string, help: string, value: number) => {
      family(name, type, help);
      lines.push(`${name} ${value}`);
    };
    scalar("vigia_readings_stored_total", "counter", "Readings stored.", this.stored);
    scalar(
      "vigia_readings_duplicate_total",
      "counter",
      "Readings received again and not stored twice.",
      this.duplicates,
    );
    scalar(
      "vigia_readings_rejected_total",
      "counter",
      "Write requests refused (400, 401, 413, 415).",
      this.rejected,
    );
    scalar(
      "vigia_store_commits_total",
      "counter",
      "Store transactions committed.",
      this.#commits.count,
    );
    family("vigia_store_commit_duration_seconds", "histogram", "Time to write and commit a group.");
    lines.push(...this.#commits.lines("vigia_store_commit_duration_seconds", ""));
    family(
      "vigia_reading_freshness_seconds",
      "histogram",
      "Age of a reading (since its sensor timestamp) when it was durably stored.",
    );
    lines.push(...this.#freshness.lines("vigia_reading_freshness_seconds", ""));
    scalar(
      "vigia_reading_freshness_max_seconds",
      "gauge",
      `Largest age of a reading stored in the last ${FRESHNESS_MAX_WINDOW_S} seconds.`,
      this.#freshnessMax.value(nowMs),
    );
    scalar(
      "vigia_retention_deleted_total",
      "counter",
      "Readings deleted by --retain-days.",
      this.retentionDeleted,
    );
    scalar(
      "vigia_live_clients",
      "gauge",
      "Connected /api/live WebSocket clients.",
      gauges.liveClients,
    );
    scalar(
      "vigia_live_dropped_total",
      "counter",
      "Live clients disconnected for not keeping up.",
      this.liveDropped,
    );
    scalar(
      "vigia_database_size_bytes",
      "gauge",
      "Size of the database file and its write-ahead log.",
      gauges.databaseBytes,
    );
    scalar(
      "vigia_newest_cursor",
      "gauge",
      "Cursor of the newest stored reading.",
      gauges.newestCursor,
    );
    return lines.join("\n") + "\n";
  }
}
