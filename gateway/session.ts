/**
 * One sensor's connection after a successful mutual-TLS handshake: the
 * streaming decode, the identity check per reading, the corrupt-frame and
 * idle rules, and the cumulative ACKs the {@linkcode Committer} releases.
 *
 * ACK rule (the protocol leaves one case open, decided here): an ACK for
 * `seq` tells the sensor it may forget every reading it sent on this
 * connection up to `seq`. A frame dropped for a bad CRC is one of those
 * readings, so once a CRC failure happens the session freezes its ACK at the
 * last good reading before it. Later intact readings are still stored (the
 * server dedupes) but never acknowledged here; the sensor's ACK timeout makes
 * it reconnect and resend from the oldest unacknowledged reading, the lost
 * one included. A READING with an impossible timestamp (decodable, boundary
 * known) is not "dropped and counted": it ends the connection with ERROR 1,
 * for the same reason — a later ACK must not cover it silently.
 *
 * Errors that end the connection wait for the batch in hand: readings that
 * arrived intact before the fault are committed and ACKed first, then the
 * ERROR frame goes out and the socket closes (within one flush interval).
 *
 * A chunk that arrives while the spool is full — at its admission limit
 * while the server drains it, a fraction of a second of forwarding — is
 * held unread, the socket paused, until the forwarder frees room (at most
 * 2 s, see {@linkcode RoomGate}); readings past the spool's hard bound
 * (`--spool-max`) get ERROR 4.
 *
 * @module
 */

import type { TLSSocket } from "node:tls";
import type { Logger } from "../lib/log.ts";
import {
  encodeAck,
  encodeError,
  ERROR_CODES,
  type ErrorCode,
  FrameDecoder,
  FrameError,
  READING_FRAME_SIZE,
} from "../protocol/mod.ts";
import type { CommitParty, Committer } from "./committer.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { HeldSender, RoomGate } from "./room_gate.ts";

/** Corrupt frames in a row that end a connection (ERROR 3), as docs/protocol.md says. */
export const MAX_CORRUPT_IN_A_ROW = 10;

/** Options shared by every {@linkcode SensorSession}. */
export interface SessionOptions {
  readonly committer: Committer;
  /** Decides whether a chunk that would overflow the spool waits for room or is refused. */
  readonly gate: RoomGate;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Uncommitted readings past which the socket is paused until the next commit. */
  readonly maxPendingReadings: number;
  /** Bytes queued towards a peer that does not read, past which it is dropped. */
  readonly maxWriteBuffer: number;
  /** Called once the socket has closed. */
  readonly onClose: (session: SensorSession) => void;
}

const CLOSE_GRACE_MS = 2_000;

/** The gateway side of one authenticated sensor connection. */
export class SensorSession implements CommitParty {
  /** The sensor id the client certificate authorises. */
  readonly sensorId: number;
  /** `address:port` of the peer, for logs. */
  readonly peer: string;
  #socket: TLSSocket;
  #options: SessionOptions;
  #decoder = new FrameDecoder();
  /** When the last complete frame arrived (performance.now()). */
  #lastFrameAt = performance.now();
  #ackSeq = 0;
  #ackDue = false;
  /** Set by the first CRC failure: no ACK may pass the reading that was lost. */
  #ackFrozen = false;
  #pending = 0;
  #paused = false;
  /** Bytes received but not yet read, while the full spool drains (see {@linkcode RoomGate}). */
  #held: Uint8Array | undefined;
  #corruptInARow = 0;
  #closing: { code: ErrorCode; reason: string } | undefined;
  #closed = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(socket: TLSSocket, sensorId: number, options: SessionOptions) {
    this.#socket = socket;
    this.sensorId = sensorId;
    this.#options = options;
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on("data", this.#onData);
    socket.on("error", (error: Error) => {
      options.log.debug("sensor connection error", {
        sensor: sensorId,
        peer: this.peer,
        error: error.message,
      });
    });
    socket.on("close", () => {
      this.#closed = true;
      clearTimeout(this.#closeTimer);
      options.onClose(this);
    });
  }

  /** Whether the session is on its way out (an ERROR is queued or sent). */
  get closing(): boolean {
    return this.#closing !== undefined || this.#closed;
  }

  /** Milliseconds since the last complete frame. */
  idleFor(now: number): number {
    return now - this.#lastFrameAt;
  }

  #onData = (chunk: Uint8Array): void => {
    if (this.#closing || this.#closed) return;
    if (this.#held !== undefined) {
      // Arrived before the pause took hold: kept behind the held bytes, in order.
      const both = new Uint8Array(this.#held.length + chunk.length);
      both.set(this.#held);
      both.set(chunk, this.#held.length);
      this.#held = both;
      return;
    }
    const { gate } = this.#options;
    // Behind anyone already held, even when this chunk would fit (see RoomGate).
    if ((gate.held > 0 || !this.#fits(chunk)) && gate.hold(this.#heldSender)) {
      this.#held = chunk.slice();
      this.#socket.pause();
      return;
    }
    this.#receive(chunk);
  };

  /** This session as the room gate sees it while its bytes are held. */
  #heldSender: HeldSender = {
    fits: () => this.#held === undefined || this.closing || this.#fits(this.#held),
    overBound: () =>
      this.#held !== undefined && !this.closing &&
      !this.#options.committer.hasRoom(this.#bufferedReadings(this.#held)),
    resume: () => {
      const held = this.#held;
      this.#held = undefined;
      if (held === undefined || this.closing) return;
      this.#receive(held);
      if (!this.#paused && !this.closing && this.#held === undefined) this.#socket.resume();
    },
  };

  /**
   * Whether `chunk` may be read now: the spool is under the admission limit
   * (the chunk may overshoot it: one chunk, not a stream) and every reading
   * the chunk can complete fits under the spool's hard bound.
   */
  #fits(chunk: Uint8Array): boolean {
    const { committer, gate } = this.#options;
    return committer.hasRoom(this.#bufferedReadings(chunk)) && gate.hasRoom(committer.pending);
  }

  /** Readings that `chunk`, after what the decoder already buffers, can complete. */
  #bufferedReadings(chunk: Uint8Array): number {
    return Math.floor((this.#decoder.bufferedBytes + chunk.length) / READING_FRAME_SIZE);
  }

  #receive(chunk: Uint8Array): void {
    const { committer, metrics } = this.#options;
    const values = metrics.values;
    // One clock read per chunk, not per frame: frames in one chunk arrived together.
    const now = performance.now();
    for (const item of this.#decoder.push(chunk)) {
      if (item instanceof FrameError) {
        if (item.reason === "bad-crc") {
          values.crc_failures++;
          this.#lastFrameAt = now;
          this.#ackFrozen = true;
          if (++this.#corruptInARow >= MAX_CORRUPT_IN_A_ROW) {
            values.corrupt_closes++;
            this.fail(ERROR_CODES.corrupt, `${MAX_CORRUPT_IN_A_ROW} corrupt frames in a row`);
            return;
          }
          continue;
        }
        values.framing_errors++;
        this.fail(ERROR_CODES.framing, item.message);
        return;
      }
      values.frames++;
      this.#corruptInARow = 0;
      this.#lastFrameAt = now;
      if (item.type !== "reading") {
        values.unknown_frames++;
        continue;
      }
      if (item.sensorId !== this.sensorId) {
        values.identity_rejected++;
        this.fail(
          ERROR_CODES.identity,
          `reading for sensor ${item.sensorId} on a connection authorised for sensor ${this.sensorId}`,
        );
        return;
      }
      if (!committer.hasRoom()) {
        values.overload_refusals++;
        this.fail(ERROR_CODES.overloaded, "spool full; keep your readings and reconnect later");
        return;
      }
      committer.add(item, this);
      values.readings++;
      this.#pending++;
      if (!this.#ackFrozen) {
        this.#ackSeq = item.seq;
        this.#ackDue = true;
      }
    }
    if (this.#pending >= this.#options.maxPendingReadings && !this.#paused) {
      // Backpressure: read nothing more from this peer until its readings are durable.
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** The batch with this session's readings is durable: send the cumulative ACK. */
  committed(): void {
    this.#pending = 0;
    if (this.#closed) return;
    if (this.#ackDue) {
      this.#ackDue = false;
      this.#write(encodeAck(this.sensorId, this.#ackSeq));
      this.#options.metrics.values.acks++;
    }
    if (this.#closing) {
      this.#sendErrorAndClose();
    } else if (this.#paused) {
      this.#paused = false;
      if (this.#held === undefined) this.#socket.resume();
    }
  }

  /** The batch could not be stored: close without ACK so the sensor resends. */
  commitFailed(reason: string): void {
    this.#pending = 0;
    this.#ackDue = false;
    this.#closing = undefined;
    this.fail(ERROR_CODES.overloaded, reason);
  }

  /**
   * Ends the connection with ERROR `code`. Readings already accepted are
   * committed and ACKed first when a batch holds some of them.
   */
  fail(code: ErrorCode, reason: string): void {
    if (this.#closing || this.#closed) return;
    this.#closing = { code, reason };
    this.#socket.pause();
    const level = code === ERROR_CODES.idle || code === ERROR_CODES.overloaded ? "info" : "warn";
    this.#options.log[level]("closing sensor connection", {
      sensor: this.sensorId,
      peer: this.peer,
      error: code,
      reason,
    });
    if (this.#pending === 0) this.#sendErrorAndClose();
  }

  /** Graceful shutdown: the final ACK went out with the last commit; close without an ERROR. */
  end(): void {
    if (this.#closed) return;
    this.#socket.end();
    this.#destroyLater();
  }

  /** Closes at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  #sendErrorAndClose(): void {
    const closing = this.#closing!;
    this.#socket.end(encodeError(closing.code, closing.reason));
    this.#destroyLater();
  }

  /** A peer that never reads or never closes would keep the socket half-open: do not wait on it. */
  #destroyLater(): void {
    this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
  }

  #write(bytes: Uint8Array): void {
    if (this.#socket.writableLength > this.#options.maxWriteBuffer) {
      this.#options.metrics.values.slow_readers++;
      this.#options.log.warn("dropping sensor connection: it does not read its ACKs", {
        sensor: this.sensorId,
        peer: this.peer,
      });
      this.#closed = true;
      this.#socket.destroy();
      return;
    }
    this.#socket.write(bytes);
  }
}
