/**
 * Drains the spool into the server: reads committed batches, POSTs them as
 * one JSON array to `POST /api/data` with the ingest token, and deletes them
 * only after a 2xx. Delivery is at least once (a 2xx lost to a crash is
 * posted again); the server stores each `(id, seq, timestamp)` once.
 *
 * Failures never drop anything. A network error, a timeout or a 5xx is
 * retried with jittered exponential backoff; 429 and 503 honour
 * `Retry-After` (capped at 60 s, see gateway/ingest_answer.ts); 401/403/404/413/415 (a configuration problem) are retried
 * too, loudly, until an operator fixes it. A 400 naming a reading (`index`)
 * moves that one reading to the spool's `rejected` table and posts the rest
 * again, so one reading the server will never accept cannot block the plant.
 *
 * Live readings are not starved behind a backlog: while the spool holds more
 * than one request (and more than `fifoReadings`, the admission budget),
 * requests alternate between the oldest and the newest batches, so after an
 * outage the dashboard shows the present at once and the past fills in
 * behind it. Within the budget rows go oldest first: that spool is no
 * backlog, and first in, first out is what keeps its oldest reading young.
 *
 * Two requests are in flight while the server answers: each server request
 * waits for its fsync, and with one at a time the gateway idled through it.
 * Each request owns its rows until it ends (the other skips them) and
 * deletes exactly those after its own 2xx, so nothing is posted twice
 * concurrently and nothing is deleted unanswered. After a failure, one
 * request at a time probes the server with backoff; the second resumes with
 * the first 2xx.
 *
 * With several servers (`--server URL,URL`, sharing one PostgreSQL store),
 * requests go round-robin over those that answer and a failed request is
 * retried on the next server at once; the forwarder waits only when every
 * server is failing (gateway/server_pool.ts).
 *
 * The forwarder wakes when the spool says rows were committed, and it is
 * the spool that tells held senders when rows were removed: the forwarder
 * knows neither the committer nor the sensors.
 *
 * Over 300 lines on purpose: one class, whose two lanes take rows, post
 * them and settle them (stored, rejected, retried) under the same
 * ownership of rows, which is clearest read together; what an answer means
 * is in ingest_answer.ts, the body in request_body.ts, the choice of
 * server in server_pool.ts, and a quarter of the file is documentation.
 *
 * @module
 */

import { backoffDelay, type BackoffOptions, sleep } from "../static/shared/backoff.js";
import { BusyRate } from "../lib/busy_rate.ts";
import type { Logger } from "../lib/log.ts";
import { fetchProblem } from "../lib/tls.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { decodeReadingRecord, READING_RECORD_SIZE } from "../protocol/mod.ts";
import { type IngestOutcome as Outcome, readIngestAnswer } from "./ingest_answer.ts";
import { MAX_BODY_BYTES, writeBatchesJson } from "./request_body.ts";
import { ServerPool } from "./server_pool.ts";
import { MAX_BATCH_READINGS, type Spool, type SpooledBatch } from "./spool.ts";

export { MAX_BODY_BYTES, writeBatchesJson } from "./request_body.ts";

/** Options of a {@linkcode Forwarder}. */
export interface ForwarderOptions {
  /** The server's base URL (`http://127.0.0.1:8080`). */
  readonly server: URL | readonly URL[];
  /** The ingest token (secret: never logged). */
  readonly token: string;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Readings per request, at most the server's 10,000. */
  readonly maxReadings?: number;
  /** One request's time limit, in ms (default 30 s). */
  readonly requestTimeoutMs?: number;
  /** Retry pacing (default 250 ms doubling to 5 s). */
  readonly backoff?: BackoffOptions;
  /** The HTTP client (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
  /** Readings the spool may hold and still be forwarded oldest first (default: one request). */
  readonly fifoReadings?: () => number;
}

const FAILURE_LOG_EVERY_MS = 30_000;
/** Requests in flight at once while the server answers 2xx. */
const LANES = 2;
/** The spool counts as draining while the last 2xx is at most this old. */
const DRAINING_FRESH_MS = 5_000;
/** Floor under a `Retry-After: 0`, so a confused server cannot make us spin. */
const MIN_RETRY_MS = 100;
/** Answered requests whose least round trip is {@linkcode Forwarder.roundTripMs}. */
const ROUND_TRIPS_KEPT = 16;

/** The spool's drain. Call {@linkcode run} once; {@linkcode stop} to end it. */
export class Forwarder {
  #spool: Spool;
  #options: ForwarderOptions;
  #servers: ServerPool;
  #fetch: typeof fetch;
  #maxReadings: number;
  #backoff: BackoffOptions;
  #waiters = new Set<() => void>();
  #stopping = new AbortController();
  #abortInFlight = new AbortController();
  #newestNext = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Rows posted and not yet answered: no other request may take them. */
  #inFlight = new Set<number>();
  /** When the current run of failures began; undefined while the server answers. */
  #failingSince: number | undefined;
  /**
   * Set by a failure other than the server asking to come back later (429
   * or 503 with `Retry-After`: it is up and busy, not stalled); cleared by a
   * 2xx. A busy server that stops storing altogether still stops counting
   * as draining once its last 2xx is {@linkcode DRAINING_FRESH_MS} old.
   */
  #stalled = false;
  #lastFailureLog = 0;
  /**
   * When the server last answered 2xx (performance.now()). Starts at the
   * forwarder's start: a server is presumed to take rows until a request
   * fails or none is answered for {@linkcode DRAINING_FRESH_MS}, so senders
   * are held back from the first reading on rather than let fill the spool.
   */
  #lastStoredAt = performance.now();
  /** Readings stored per second of forwarding: what the admission limit is made of. */
  #rate = new BusyRate();
  /** Round trips of the last answered requests less the server's time, in ms, oldest first. */
  #roundTrips: number[] = [];
  /** The least of {@linkcode #roundTrips}: read at every admission check, changed once a request. */
  #roundTripMs: number | undefined;

  constructor(spool: Spool, options: ForwarderOptions) {
    this.#spool = spool;
    this.#options = options;
    const servers = Array.isArray(options.server) ? options.server : [options.server as URL];
    this.#servers = new ServerPool(
      servers.map((server) => new URL("api/data", server.href.replace(/\/?$/, "/")).href),
    );
    this.#fetch = options.fetch ?? fetch;
    this.#maxReadings = Math.min(options.maxReadings ?? MAX_BATCH_READINGS, MAX_BATCH_READINGS);
    // A server back from an outage is found within 5 s: its backlog is what is late.
    this.#backoff = options.backoff ?? { baseMs: 250, maxMs: 5_000 };
  }

  /** Whether the server is taking rows now: it answered 2xx lately and has not stalled since. */
  get draining(): boolean {
    return !this.#stalled && performance.now() - this.#lastStoredAt <= DRAINING_FRESH_MS;
  }

  /** Whether no request is in flight while the server answers: rows committed now are posted at once. */
  get idle(): boolean {
    return this.#inFlight.size === 0 && this.#failingSince === undefined;
  }

  /** Readings the server stored per second of forwarding (requests in flight); undefined until measured. */
  get drainRate(): number | undefined {
    return this.#rate.perSecond;
  }

  /**
   * The least round trip of the last 16 answered requests, each less the
   * time the server said it spent on it (`Server-Timing`: its queue and
   * its work), in ms: how far away the server is. Undefined until one was
   * answered.
   */
  get roundTripMs(): number | undefined {
    return this.#roundTripMs;
  }

  /** New batches were committed: wake up if idle. */
  notify = (): void => {
    for (const wake of this.#waiters) wake();
  };

  /**
   * Stops taking batches; an in-flight POST may finish within `graceMs`,
   * after which it is aborted (its batches stay spooled for the next start).
   */
  stop(graceMs: number): void {
    this.#stopping.abort();
    this.#graceTimer ??= setTimeout(() => this.#abortInFlight.abort(), graceMs);
  }

  /** Forwards until {@linkcode stop}; resolves when the last request has ended. */
  async run(): Promise<void> {
    const unsubscribe = this.#spool.on("committed", this.notify);
    try {
      await Promise.all(Array.from({ length: LANES }, (_, lane) => this.#lane(lane)));
    } finally {
      unsubscribe();
      clearTimeout(this.#graceTimer);
    }
  }

  /**
   * One request at a time, in a loop. Lane 0 carries on through failures
   * with backoff; the others wait while the server is failing.
   */
  async #lane(lane: number): Promise<void> {
    const stopping = this.#stopping.signal;
    // Allocated on first use: pages of a buffer never written cost no memory.
    let body: Uint8Array<ArrayBuffer> | undefined;
    while (!stopping.aborted) {
      const batches = lane > 0 && this.#failingSince !== undefined ? [] : this.#take();
      if (batches.length === 0) {
        await this.#idle();
        continue;
      }
      body ??= new Uint8Array(MAX_BODY_BYTES);
      for (const batch of batches) this.#inFlight.add(batch.id);
      const readings = count(batches);
      this.#rate.start(readings, performance.now());
      const server = this.#servers.pick(performance.now());
      let outcome: Outcome;
      try {
        outcome = await this.#post(batches, body, server.url);
        // Measured before the removal, whose listeners read the admission limit made of it.
        this.#rate.finish(readings, performance.now(), outcome.kind === "stored");
        if (outcome.kind === "stored") this.#spool.remove(batches);
      } finally {
        for (const batch of batches) this.#inFlight.delete(batch.id);
        this.notify(); // rows released, or the server answering again
      }
      // What follows runs before any other lane does: they see its bookkeeping.
      if (outcome.kind === "stored") {
        this.#servers.succeeded(server.index);
        this.#stored(batches, outcome.duplicates);
        continue;
      }
      if (outcome.kind === "invalid" && this.#reject(batches, outcome.index, outcome.error)) {
        continue;
      }
      this.#failed(outcome, server.url);
      const now = performance.now();
      this.#servers.failed(server.index, now, this.#retryDelay(outcome, server.failures));
      if (lane > 0) continue; // lane 0 retries these rows: on another server, else with backoff
      await sleep(this.#servers.waitMs(now), stopping);
    }
  }

  /** Counts a request answered 2xx; ends a run of failures. */
  #stored(batches: readonly SpooledBatch[], duplicates: number): void {
    const { log, metrics } = this.#options;
    metrics.values.forwarded += count(batches);
    metrics.values.forward_requests++;
    metrics.values.forward_duplicates += duplicates;
    this.#lastStoredAt = performance.now();
    this.#stalled = false;
    if (this.#failingSince !== undefined) {
      log.info("server reachable again", {
        outage_s: Math.round((Date.now() - this.#failingSince) / 1000),
        backlog: this.#spool.depth,
      });
      this.#failingSince = undefined;
    }
  }

  /** Counts a failed request and logs it: at once when a run of failures begins, then every 30 s. */
  #failed(outcome: Exclude<Outcome, { kind: "stored" }>, url: string): void {
    const { log, metrics } = this.#options;
    metrics.values.forward_retries++;
    if (outcome.kind !== "retry" || outcome.retryAfterMs === undefined) this.#stalled = true;
    const now = Date.now();
    if (this.#failingSince === undefined || now - this.#lastFailureLog >= FAILURE_LOG_EVERY_MS) {
      log.warn("cannot forward to the server; will retry", {
        reason: outcome.kind === "retry" ? outcome.reason : `HTTP 400: ${outcome.error}`,
        ...(this.#servers.size > 1 ? { server: new URL(url).origin } : {}),
        backlog: this.#spool.depth,
      });
      this.#lastFailureLog = now;
    }
    this.#failingSince ??= now;
  }

  /** The wait before retry number `attempt`: the server's Retry-After, else the backoff. */
  #retryDelay(outcome: Exclude<Outcome, { kind: "stored" }>, attempt: number): number {
    const retryAfterMs = outcome.kind === "retry" ? outcome.retryAfterMs : undefined;
    return retryAfterMs !== undefined
      ? Math.max(retryAfterMs, MIN_RETRY_MS)
      : backoffDelay(attempt, this.#backoff);
  }

  #take(): SpooledBatch[] {
    const fifo = Math.max(this.#maxReadings, this.#options.fifoReadings?.() ?? 0);
    const backlog = this.#spool.depth > fifo;
    const end = backlog && this.#newestNext ? "newest" : "oldest";
    this.#newestNext = backlog && !this.#newestNext;
    return this.#spool.take(end, this.#maxReadings, this.#inFlight);
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        this.#stopping.signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.add(done);
      this.#stopping.signal.addEventListener("abort", done, { once: true });
    });
  }

  async #post(
    batches: readonly SpooledBatch[],
    buffer: Uint8Array<ArrayBuffer>,
    url: string,
  ): Promise<Outcome> {
    // The lane's previous request has ended, so its body buffer is free to reuse.
    const body = buffer.subarray(0, writeBatchesJson(batches, buffer));
    const sent = performance.now();
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: "POST",
        headers: {
          authorization: `Bearer ${this.#options.token}`,
          "content-type": "application/json",
        },
        body,
        signal: AbortSignal.any([
          this.#abortInFlight.signal,
          AbortSignal.timeout(this.#options.requestTimeoutMs ?? 30_000),
        ]),
      });
    } catch (error) {
      return { kind: "retry", reason: fetchProblem(error, new URL(url)) };
    }
    const outcome = await readIngestAnswer(response);
    if (outcome.kind === "stored") {
      // The network's share: what the server says it spent on the request is its queue and work.
      this.#roundTrips.push(Math.max(0, performance.now() - sent - (outcome.serverMs ?? 0)));
      if (this.#roundTrips.length > ROUND_TRIPS_KEPT) this.#roundTrips.shift();
      this.#roundTripMs = Math.min(...this.#roundTrips);
    }
    if (outcome.kind === "retry" && (outcome.status === 401 || outcome.status === 403)) {
      this.#options.log.error(
        `the server refuses the ingest token (${outcome.reason}); check --certs`,
      );
    }
    return outcome;
  }

  /** Moves reading `index` of the request out of the way; false when `index` is not in it. */
  #reject(batches: readonly SpooledBatch[], index: number, error: string): boolean {
    const { log, metrics } = this.#options;
    let offset = 0;
    for (const batch of batches) {
      if (Number.isInteger(index) && index >= 0 && index < offset + batch.readings) {
        const reading = decodeReadingRecord(
          batch.payload,
          (index - offset) * READING_RECORD_SIZE,
        );
        this.#spool.reject(batch, index - offset, error);
        metrics.values.forward_rejected++;
        log.error("the server refused a reading as invalid; moved to the spool's rejected table", {
          sensor: reading.sensorId,
          seq: reading.seq,
          timestamp: reading.timestamp,
          error,
        });
        return true;
      }
      offset += batch.readings;
    }
    // An index we did not send: a server fault, retried with backoff like any other.
    log.error("the server answered 400 with an index outside the request", { index, error });
    return false;
  }
}

function count(batches: readonly SpooledBatch[]): number {
  let total = 0;
  for (const batch of batches) total += batch.readings;
  return total;
}
