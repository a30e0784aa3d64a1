/**
 * One connection of a simulated sensor: the writer packs every READING frame
 * the window of unacknowledged readings allows into one socket write (up to
 * 4,096 frames); the
 * reader applies cumulative ACKs and ERROR frames (decoded with the
 * protocol's `FrameDecoder`); a watchdog closes the connection when readings
 * are in flight and no ACK has made progress for the ACK timeout.
 *
 * The watchdog is what recovers a reading the gateway dropped for a bad
 * CRC: the gateway stops ACKing past it on that connection (see
 * gateway/session.ts), so progress stops, the connection is closed, and the
 * next one resends from the oldest unacknowledged reading.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import {
  encodeReadingInto,
  ERROR_CODES,
  FrameDecoder,
  FrameError,
  READING_FRAME_SIZE,
} from "../protocol/mod.ts";
import type { ReadingQueue } from "./queue.ts";
import type { LinkConn } from "./tls_link.ts";
import type { InFlightWindow } from "./window.ts";
import type { LatencyHistogram, SensorCounters } from "./stats.ts";

/** What a session needs from the sensor it serves. */
export interface SessionHost {
  readonly sensorId: number;
  readonly queue: ReadingQueue;
  /** How many readings may be in flight; adapts to the ACKs' delay. */
  readonly window: InFlightWindow;
  /** Whether the sensor's `--count` is measured and every reading acknowledged or dropped. */
  isFinished(): boolean;
  /** Saturation mode: measure up to `n` readings now. */
  fill(n: number): void;
  /** Resolves at the next new reading, or when `wake` is called. */
  waitForWork(): Promise<void>;
  /** Wakes a `waitForWork`. */
  wake(): void;
  /** The gateway acknowledged a first reading on this connection. */
  admitted(): void;
}

/** Options of {@linkcode serveConnection}. */
export interface SessionOptions {
  readonly ackTimeoutMs: number;
  readonly counters: SensorCounters;
  readonly latency: LatencyHistogram;
  readonly log: Logger;
  readonly verbose: boolean;
  /** Measure as fast as the window allows (`--interval 0`). */
  readonly saturate: boolean;
}

/**
 * Most frames per socket write. A whole window goes out in one write, not
 * frame by frame: one TLS record and one system call rather than many (the
 * connection has Nagle's algorithm off, see tls_link.ts, so nothing would
 * coalesce them).
 */
const MAX_FRAMES_PER_WRITE = 4_096;
/** Frames the write buffer holds at first; it grows to what a write needs. */
const INITIAL_FRAMES_PER_WRITE = 16;
/** After a stop signal, how long the readings in flight may wait for their ACK. */
const DRAIN_MS = 2_000;

interface SessionState {
  open: boolean;
  progress: boolean;
  lastProgressAt: number;
  /** Write chunks in flight: [seq of the chunk's last reading, readings, send time]. */
  chunks: [number, number, number][];
  /** Readings went out: make sure the ACK-timeout check is due. */
  armWatchdog: () => void;
  /** Why the gateway's side ended the connection, if it did. */
  lost?: string;
}

/**
 * Serves one established connection until it closes, the count is done,
 * or `signal` aborts (then in-flight readings get up to 2 s for their ACK).
 * Returns whether any ACK made progress, which resets the reconnect backoff,
 * and, when the gateway ended a connection that acknowledged nothing (as it
 * does with a revoked certificate), why: a failure to report, not a link
 * that worked.
 */
export async function serveConnection(
  conn: LinkConn,
  host: SessionHost,
  options: SessionOptions,
  signal: AbortSignal,
): Promise<{ progress: boolean; failure?: string }> {
  const { counters, log, verbose } = options;
  host.queue.rewind();
  // One timer, due when the ACK timeout would pass without progress, and
  // armed only while readings are in flight: thousands of idle connections
  // cost no wake-ups.
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    watchdog = undefined;
    if (!state.open || host.queue.inFlight === 0) return; // re-armed by the next send
    const waited = performance.now() - state.lastProgressAt;
    if (waited <= options.ackTimeoutMs) {
      watchdog = setTimeout(check, options.ackTimeoutMs - waited + 1);
      return;
    }
    counters.ackTimeouts++;
    log[verbose ? "warn" : "debug"]("no ACK progress; reconnecting to resend", {
      sensor: host.sensorId,
      in_flight: host.queue.inFlight,
    });
    close();
  };
  const state: SessionState = {
    open: true,
    progress: false,
    lastProgressAt: performance.now(),
    chunks: [],
    armWatchdog: () => {
      watchdog ??= setTimeout(check, options.ackTimeoutMs + 1);
    },
  };
  const close = () => {
    if (!state.open) return;
    state.open = false;
    try {
      conn.close();
    } catch { /* already closed */ }
    host.wake();
  };
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => {
    host.wake();
    drainTimer = setTimeout(close, DRAIN_MS);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.all([
      readLoop(conn, host, options, state, close),
      writeLoop(conn, host, options, state, close, signal),
    ]);
  } finally {
    clearTimeout(watchdog);
    clearTimeout(drainTimer);
    signal.removeEventListener("abort", onAbort);
    close();
  }
  if (state.progress || state.lost === undefined) return { progress: state.progress };
  return { progress: false, failure: state.lost };
}

async function readLoop(
  conn: LinkConn,
  host: SessionHost,
  options: SessionOptions,
  state: SessionState,
  close: () => void,
): Promise<void> {
  const { counters, log } = options;
  const decoder = new FrameDecoder();
  const buffer = new Uint8Array(16 * 1024);
  try {
    while (state.open) {
      const n = await conn.read(buffer);
      if (n === null) {
        if (state.open) state.lost = "the gateway closed the connection";
        break;
      }
      for (const frame of decoder.push(buffer.subarray(0, n))) {
        if (frame instanceof FrameError) {
          log.warn("malformed frame from the gateway; reconnecting", {
            sensor: host.sensorId,
            error: frame.message,
          });
          return;
        }
        if (frame.type === "ack") {
          if (frame.sensorId !== host.sensorId) continue;
          const acked = host.queue.ack(frame.seq);
          if (acked > 0) {
            if (!state.progress) host.admitted();
            counters.acknowledged += acked;
            state.progress = true;
            state.lastProgressAt = performance.now();
            const now = performance.now();
            host.window.onAck(acked, recordLatency(state, options.latency, frame.seq, now), now);
            host.wake();
          }
        } else if (frame.type === "error") {
          reportError(host.sensorId, options, frame.code, frame.reason);
          return;
        }
      }
    }
  } catch (error) {
    if (state.open) {
      state.lost = error instanceof Error ? error.message : String(error);
      log.debug("connection lost", { sensor: host.sensorId, error: state.lost });
    }
  } finally {
    close();
  }
}

async function writeLoop(
  conn: LinkConn,
  host: SessionHost,
  options: SessionOptions,
  state: SessionState,
  close: () => void,
  signal: AbortSignal,
): Promise<void> {
  const { counters, saturate } = options;
  const queue = host.queue;
  // Small at first: a sensor sending one reading a second never needs more.
  let buffer = new Uint8Array(INITIAL_FRAMES_PER_WRITE * READING_FRAME_SIZE);
  try {
    while (state.open && !host.isFinished()) {
      if (signal.aborted) {
        // Stopping: send nothing new, wait for the ACKs of what is in flight.
        if (queue.inFlight === 0) break;
        await host.waitForWork();
        continue;
      }
      const room = host.window.size - queue.inFlight;
      if (saturate && room > queue.unsent) host.fill(room - queue.unsent);
      const n = Math.min(room, queue.unsent, MAX_FRAMES_PER_WRITE);
      if (n <= 0) {
        await host.waitForWork();
        continue;
      }
      if (n * READING_FRAME_SIZE > buffer.length) buffer = new Uint8Array(n * READING_FRAME_SIZE);
      if (queue.inFlight === 0) state.lastProgressAt = performance.now();
      let offset = 0;
      let lastSeq = 0;
      queue.send(n, (reading, resend) => {
        encodeReadingInto(buffer, offset, reading);
        offset += READING_FRAME_SIZE;
        lastSeq = reading.seq;
        if (resend) counters.resent++;
        else counters.sent++;
      });
      state.chunks.push([lastSeq, n, performance.now()]);
      state.armWatchdog();
      await conn.write(buffer.subarray(0, offset));
    }
  } catch (error) {
    if (state.open) {
      options.log.debug("write failed", {
        sensor: host.sensorId,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  } finally {
    // Done, failed or drained: end the connection so the reader stops too.
    close();
  }
}

function reportError(sensorId: number, options: SessionOptions, code: number, reason: string) {
  const { counters, log, verbose } = options;
  counters.errors[code] = (counters.errors[code] ?? 0) + 1;
  const fields = { sensor: sensorId, code, reason };
  if (code === ERROR_CODES.overloaded || code === ERROR_CODES.idle) {
    log[verbose ? "info" : "debug"]("gateway closed the connection", fields);
  } else {
    // Framing, identity or corruption: this sensor or its certificate is misconfigured.
    log.error("gateway refused this sensor", fields);
  }
}

/**
 * Weighs each acknowledged write chunk's send-to-ACK time by its readings.
 * Returns the longest of them (the oldest chunk's), 0 when none is covered.
 */
function recordLatency(
  state: SessionState,
  latency: LatencyHistogram,
  ackSeq: number,
  now: number,
): number {
  const chunks = state.chunks;
  const oldest = chunks[0]?.[2];
  let covered = 0;
  while (covered < chunks.length) {
    const [lastSeq, readings, sentAt] = chunks[covered]!;
    // Seqs are consecutive: a chunk is covered when its last seq is at or before ackSeq (mod 2^32).
    if (((ackSeq - lastSeq) >>> 0) > 0x7fff_ffff) break;
    latency.observe(now - sentAt, readings);
    covered++;
  }
  if (covered === 0) return 0;
  chunks.splice(0, covered);
  return now - oldest!;
}
