/**
 * One simulated sensor: it measures (seq, timestamp, values from its
 * {@linkcode Simulator}), keeps every reading in its {@linkcode ReadingQueue}
 * until the gateway ACKs it, and runs the link: mutual TLS with its own
 * certificate, frames packed into few writes, ACK/ERROR frames read with the
 * protocol's `FrameDecoder`.
 *
 * Link rules:
 * - At most `window` readings in flight; the writer waits for ACKs beyond it.
 * - A reconnect resends every unacknowledged reading, oldest first, with the
 *   same seq and timestamp (the reading's identity), so downstream dedupes.
 * - ACK timeout: readings in flight and no ACK progress for `ackTimeoutMs`
 *   → close and reconnect. This is what recovers a reading whose frame was
 *   corrupted on the wire: the gateway stops ACKing past it (see
 *   gateway/session.ts), the timeout fires, and the resend carries it.
 * - Reconnects back off exponentially with jitter; the backoff resets once a
 *   connection made progress. ERROR 4 (overloaded) and 5 (idle) are normal
 *   operation; ERROR 1, 2 and 3 mean a bug or a misconfiguration and are
 *   logged as errors.
 *
 * Seq starts at 1 for each process run, as a device's counter after a
 * reset would; the timestamp (real measurement time) keeps a restarted
 * sensor's readings distinct from the previous run's.
 *
 * @module
 */

import { backoffDelay, type BackoffOptions, sleep } from "../lib/backoff.ts";
import type { Logger } from "../lib/log.ts";
import {
  encodeReadingInto,
  ERROR_CODES,
  FrameDecoder,
  FrameError,
  type Reading,
  READING_FRAME_SIZE,
} from "../protocol/mod.ts";
import { ReadingQueue } from "./queue.ts";
import type { Simulator } from "./simulator.ts";
import { LatencyHistogram } from "./stats.ts";

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
const DRAIN_MS = 2_000;
/** Frames per socket write. */
const FRAMES_PER_WRITE = 256;
const WATCHDOG_MS = 250;

/** A simulated sensor and its link to the gateway. */
export class SensorLink {
  readonly sensorId: number;
  readonly queue: ReadingQueue;
  #options: LinkOptions;
  #seq = 0;
  #generated = 0;
  #wake: (() => void) | undefined;
  #writeBuffer = new Uint8Array(FRAMES_PER_WRITE * READING_FRAME_SIZE);
  /** Send times of write chunks in flight: [seq of the chunk's last reading, readings, ms]. */
  #chunks: [number, number, number][] = [];

  constructor(options: LinkOptions) {
    this.sensorId = options.sensorId;
    this.#options = options;
    this.queue = new ReadingQueue(options.buffer);
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
      const reading: Reading = {
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
    while (!signal.aborted && !this.finished) {
      if (!saturate && this.queue.length === 0) {
        // Nothing to send (first start, or after an idle close): connect when there is.
        await this.#waitForWork(signal);
        continue;
      }
      const result = await this.#connectAndServe(signal, saturate);
      if (signal.aborted || this.finished) break;
      if (result.progress) attempt = 0;
      if (result.failure && !failing && verbose) {
        log.info("gateway unreachable; retrying", {
          sensor: this.sensorId,
          reason: result.failure,
        });
      }
      failing = result.failure !== undefined;
      await sleep(backoffDelay(attempt++, backoff), signal);
    }
  }

  async #connectAndServe(
    signal: AbortSignal,
    saturate: boolean,
  ): Promise<{ progress: boolean; failure?: string }> {
    const { counters, log, verbose } = this.#options;
    let conn: Deno.TlsConn;
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
    if (verbose) log.info("connected", { sensor: this.sensorId, backlog: this.queue.length });
    this.queue.rewind();
    this.#chunks = [];
    const session = { open: true, progress: false, lastProgressAt: performance.now() };
    const close = () => {
      if (!session.open) return;
      session.open = false;
      try {
        conn.close();
      } catch { /* already closed */ }
      this.#wake?.();
    };
    const watchdog = setInterval(() => {
      if (
        this.queue.inFlight > 0 &&
        performance.now() - session.lastProgressAt > this.#options.ackTimeoutMs
      ) {
        counters.ackTimeouts++;
        log[verbose ? "warn" : "debug"]("no ACK progress; reconnecting to resend", {
          sensor: this.sensorId,
          in_flight: this.queue.inFlight,
        });
        close();
      }
    }, WATCHDOG_MS);
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      // Stop sending; give the readings in flight a moment to be acknowledged.
      this.#wake?.();
      drainTimer = setTimeout(close, DRAIN_MS);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all([
        this.#readLoop(conn, session, close),
        this.#writeLoop(conn, session, close, signal, saturate),
      ]);
    } finally {
      clearInterval(watchdog);
      clearTimeout(drainTimer);
      signal.removeEventListener("abort", onAbort);
      close();
      counters.connected--;
    }
    return { progress: session.progress };
  }

  async #connect(): Promise<Deno.TlsConn> {
    const { hostname, port, caCert, cert, key } = this.#options;
    const connecting = Deno.connectTls({ hostname, port, caCerts: [caCert], cert, key });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("connect timed out")), CONNECT_TIMEOUT_MS);
    });
    try {
      const conn = await Promise.race([connecting, timeout]);
      try {
        await Promise.race([conn.handshake(), timeout]);
      } catch (error) {
        conn.close();
        throw error;
      }
      return conn;
    } catch (error) {
      connecting.then((late) => late.close(), () => {});
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #readLoop(
    conn: Deno.TlsConn,
    session: { open: boolean; progress: boolean; lastProgressAt: number },
    close: () => void,
  ): Promise<void> {
    const { counters, log } = this.#options;
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(16 * 1024);
    try {
      while (session.open) {
        const n = await conn.read(buffer);
        if (n === null) break;
        for (const frame of decoder.push(buffer.subarray(0, n))) {
          if (frame instanceof FrameError) {
            log.warn("malformed frame from the gateway; reconnecting", {
              sensor: this.sensorId,
              error: frame.message,
            });
            close();
            return;
          }
          if (frame.type === "ack") {
            if (frame.sensorId !== this.sensorId) continue;
            const acked = this.queue.ack(frame.seq);
            if (acked > 0) {
              counters.acknowledged += acked;
              session.progress = true;
              session.lastProgressAt = performance.now();
              this.#recordLatency(frame.seq, session.lastProgressAt);
              this.#wake?.();
            }
          } else if (frame.type === "error") {
            this.#onError(frame.code, frame.reason);
            close();
            return;
          }
        }
      }
    } catch (error) {
      if (session.open) {
        log.debug("connection lost", {
          sensor: this.sensorId,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    } finally {
      close();
    }
  }

  async #writeLoop(
    conn: Deno.TlsConn,
    session: { open: boolean; progress: boolean; lastProgressAt: number },
    close: () => void,
    signal: AbortSignal,
    saturate: boolean,
  ): Promise<void> {
    const { counters, window } = this.#options;
    try {
      while (session.open) {
        if (this.finished) break;
        if (signal.aborted) {
          if (this.queue.inFlight === 0) break;
          await this.#waitForWork();
          continue;
        }
        const room = window - this.queue.inFlight;
        if (saturate && room > 0 && this.queue.unsent < room) {
          this.measure(room - this.queue.unsent, Date.now());
        }
        const n = Math.min(room, this.queue.unsent, FRAMES_PER_WRITE);
        if (n <= 0) {
          await this.#waitForWork();
          continue;
        }
        if (this.queue.inFlight === 0) session.lastProgressAt = performance.now();
        let offset = 0;
        let lastSeq = 0;
        this.queue.send(n, (reading, resend) => {
          encodeReadingInto(this.#writeBuffer, offset, reading);
          offset += READING_FRAME_SIZE;
          lastSeq = reading.seq;
          if (resend) counters.resent++;
          else counters.sent++;
        });
        this.#chunks.push([lastSeq, n, performance.now()]);
        await writeAll(conn, this.#writeBuffer.subarray(0, offset));
      }
    } catch (error) {
      if (session.open) {
        this.#options.log.debug("write failed", {
          sensor: this.sensorId,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    } finally {
      // Done, failed or drained: end the connection so the reader stops too.
      close();
    }
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

  #onError(code: number, reason: string): void {
    const { counters, log, verbose } = this.#options;
    counters.errors[code] = (counters.errors[code] ?? 0) + 1;
    const fields = { sensor: this.sensorId, code, reason };
    if (code === ERROR_CODES.overloaded || code === ERROR_CODES.idle) {
      log[verbose ? "info" : "debug"]("gateway closed the connection", fields);
    } else {
      // Framing, identity or corruption: this sensor or its certificate is misconfigured.
      log.error("gateway refused this sensor", fields);
    }
  }

  /** Weighs each acknowledged write chunk's send-to-ACK time by its readings. */
  #recordLatency(ackSeq: number, now: number): void {
    const chunks = this.#chunks;
    let covered = 0;
    while (covered < chunks.length) {
      const [lastSeq, readings, sentAt] = chunks[covered]!;
      // Chunks hold consecutive seqs: a chunk is covered when its last seq is at or before ackSeq.
      if (((ackSeq - lastSeq) >>> 0) > 0x7fff_ffff) break;
      this.#options.latency.record(now - sentAt, readings);
      covered++;
    }
    if (covered > 0) chunks.splice(0, covered);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}
