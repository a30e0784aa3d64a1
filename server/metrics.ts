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

class Histogram {
  readonly counts: number[] = new Array(BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) {
        this.counts[i]!++;
        break;
      }
    }
  }

  lines(name: string, labels: string): string[] {
    const lines: string[] = [];
    const sep = labels ? "," : "";
    let cumulative = 0;
    BUCKETS.forEach((bound, i) => {
      cumulative += this.counts[i]!;
      lines.push(`${name}_bucket{${labels}${sep}le="${bound}"} ${cumulative}`);
    });
    lines.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`);
    const suffix = labels ? `{${labels}}` : "";
    lines.push(`${name}_sum${suffix} ${this.sum}`, `${name}_count${suffix} ${this.count}`);
    return lines;
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

  /** The exposition text. */
  render(gauges: MetricsGauges): string {
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
