/**
 * One simulated sensor: it measures (seq, timestamp, values from its
 * {@linkcode Simulator}), keeps every reading in its {@linkcode ReadingQueue}
 * until the gateway ACKs it, and keeps a link to the gateway: mutual TLS
 * with its own certificate, one connection at a time, served by
 * {@link ./session.ts} (window, ACKs, ACK timeout).
 *
 * Reconnects back off exponentially with equal jitter (0.5 s doubling to
 * 30 s); the backoff resets once a connection made ACK progress. Every
 * reconnect resends the unacknowledged readings oldest first, with the same
 * seq and timestamp (the reading's identity), so downstream dedupes.
 * Without readings to send (timed mode), the sensor connects only once it
 * has measured one: an idle close (ERROR 5) is not followed by an empty
 * reconnect.
 *
 * Seq starts at 1 for each process run, as a device's counter after a
 * reset would; the timestamp (the measurement time) keeps a restarted
 * sensor's readings distinct from the previous run's.
 *
 * @module
 */

import { backoffDelay, type BackoffOptions, sleep } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import type { MeasuredReading } from "../protocol/mod.ts";
import { ReadingQueue } from "./queue.ts";
import { serveConnection, type SessionHost } from "./session.ts";
import { connectLinkTls, type LinkConn } from "./tls_link.ts";
import { InFlightWindow, WINDOW_FLOOR } from "./window.ts";
import type { Simulator } from "./simulator.ts";
import type { LatencyHistogram, SensorCounters } from "./stats.ts";

/** Options of a {@linkcode SensorLink}. */
export interface LinkOptions {
  readonly sensorId: number;
  readonly hostname: string;
  readonly port: number;
  /** PEM of the plant CA, this sensor's certificate and key. */
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  readonly simulator: Simulator;
  /** Readings to measure; 0 = no limit. */
  readonly count: number;
  /** Most readings in flight (sent, not acknowledged). */
  readonly window: number;
  /** ACKs slower than this shrink the window (see window.ts); 0 = fixed window. */
  readonly latencyTargetMs: number;
  /** Most readings kept; past it the oldest is dropped. */
  readonly buffer: number;
  /** No ACK progress for this long with readings in flight: reconnect. */
  readonly ackTimeoutMs: number;
  readonly backoff: BackoffOptions;
  readonly counters: SensorCounters;
  readonly latency: LatencyHistogram;
  readonly log: Logger;
  /** Log connection state changes at info (few sensors) rather than debug (many). */
  readonly verbose: boolean;
}

const CONNECT_TIMEOUT_MS = 10_000;

/** A simulated sensor and its link to the gateway. */
export class SensorLink {
  readonly sensorId: number;
  readonly queue: ReadingQueue;
  #options: LinkOptions;
  #seq = 0;
  #generated = 0;
  #wake: (() => void) | undefined;
  #host: SessionHost;
  /** Logs "connected" at the first ACK, when the last connection was dropped before one. */
  #announce: (() => void) | undefined;

  constructor(options: LinkOptions) {
    this.sensorId = options.sensorId;
    this.#options = options;
    this.queue = new ReadingQueue(options.buffer);
    this.#host = {
      sensorId: this.sensorId,
      queue: this.queue,
      window: new InFlightWindow({
        max: options.window,
        floor: WINDOW_FLOOR,
        targetMs: options.latencyTargetMs,
        slowStart: true,
      }),
      isFinished: () => this.finished,
      fill: (n) => this.measure(n, Date.now()),
      waitForWork: () => this.#waitForWork(),
      wake: () => this.#wake?.(),
      admitted: () => this.#announce?.(),
    };
  }

  /** Whether every reading of a `--count` run was measured and then acknowledged or dropped. */
  get finished(): boolean {
    return this.#options.count > 0 && this.#generated >= this.#options.count &&
      this.queue.length === 0;
  }

  /** Readings still to measure (Infinity without a count). */
  get remaining(): number {
    return this.#options.count > 0 ? this.#options.count - this.#generated : Infinity;
  }

  /**
   * Measures up to `n` readings stamped `timestamp` (the scheduled
   * measurement time) and queues them, dropping the oldest when full.
   */
  measure(n: number, timestamp: number): void {
    const { simulator, counters } = this.#options;
    const count = Math.min(n, this.remaining);
    for (let i = 0; i < count; i++) {
      this.#seq = this.#seq === 0xffff_ffff ? 0 : this.#seq + 1;
      const values = simulator.next();
      const reading: MeasuredReading = {
        sensorId: this.sensorId,
        seq: this.#seq,
        timestamp,
        temperature: values.temperature,
        pressure: values.pressure,
        humidity: values.humidity,
      };
      counters.dropped += this.queue.push(reading);
      this.#generated++;
      counters.generated++;
    }
    if (count > 0) this.#wake?.();
  }

  /**
   * Connects, sends and reconnects until the count is done or `signal`
   * aborts. In saturation mode (`saturate`), readings are measured as fast
   * as the window frees up instead of by the scheduler.
   */
  async run(signal: AbortSignal, saturate: boolean): Promise<void> {
    const { backoff, log, verbose } = this.#options;
    let attempt = 0;
    let failing = false;
    let dropped = false;
    while (!signal.aborted && !this.finished) {
      if (!saturate && this.queue.length === 0) {
        // Nothing to send (first start, or after an idle close): connect when there is.
        await this.#waitForWork(signal);
        continue;
      }
      const result = await this.#connectAndServe(signal, saturate, dropped);
      if (signal.aborted || this.finished) break;
      if (result.progress) attempt = 0;
      if (result.failure && !failing && verbose) {
        // A drop after the handshake (EOF or reset, as the timing goes) is not an unreachable gateway.
        const what = result.dropped
          ? "the gateway closed the connection before acknowledging a reading " +
            "(a revoked certificate? its log says why)"
          : describeConnectFailure(result.failure);
        log.info(`${what}; retrying`, { sensor: this.sensorId, reason: result.failure });
      }
      failing = result.failure !== undefined;
      dropped = failing && result.dropped === true;
      await sleep(backoffDelay(attempt++, backoff), signal);
    }
  }

  async #connectAndServe(
    signal: AbortSignal,
    saturate: boolean,
    dropped: boolean,
  ): Promise<{ progress: boolean; failure?: string; dropped?: boolean }> {
    const { counters, log, verbose } = this.#options;
    let conn: LinkConn;
    try {
      conn = await this.#connect();
    } catch (error) {
      counters.connectFailures++;
      const message = error instanceof Error ? error.message : String(error);
      log.debug("cannot connect", { sensor: this.sensorId, error: message });
      return { progress: false, failure: message };
    }
    counters.connects++;
    counters.connected++;
    // A gateway that drops this sensor's connections at once (a revoked
    // certificate) must not look like one that admits it: after such a drop,
    // "connected" waits for an ACK.
    const connected = () => {
      this.#announce = undefined;
      if (verbose) log.info("connected", { sensor: this.sensorId, backlog });
    };
    const backlog = this.queue.length;
    if (dropped) this.#announce = connected;
    else connected();
    try {
      const result = await serveConnection(
        conn,
        this.#host,
        { ...this.#options, saturate },
        signal,
      );
      return result.failure === undefined ? result : { ...result, dropped: true };
    } finally {
      this.#announce = undefined;
      counters.connected--;
    }
  }

  #connect(): Promise<LinkConn> {
    const { hostname, port, caCert, cert, key } = this.#options;
    return connectLinkTls({ hostname, port, caCert, cert, key, timeoutMs: CONNECT_TIMEOUT_MS });
  }

  #waitForWork(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = undefined;
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * Says in plant terms why a connection failed: a certificate mismatch is a
 * configuration problem an operator must fix, not a network outage.
 */
export function describeConnectFailure(reason: string): string {
  if (
    /invalid peer certificate: (BadSignature|UnknownIssuer)|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE/i
      .test(reason)
  ) {
    return "the gateway's certificate is not signed by this sensor's CA (ca.crt in --certs): " +
      "both sides must use the same certs/";
  }
  if (
    /invalid peer certificate: (Expired|NotValidYet)|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID/i.test(
      reason,
    )
  ) {
    return "the gateway's certificate is outside its validity period";
  }
  if (/NotValidForName|not valid for name|ERR_TLS_CERT_ALTNAME_INVALID/i.test(reason)) {
    return "the gateway's certificate does not name the host in --gateway";
  }
  if (/fatal alert/i.test(reason)) {
    return "the gateway refused this sensor's certificate (its log says why)";
  }
  return "gateway unreachable";
}
