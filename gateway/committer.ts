/**
 * Group commit: readings from every connection collect in one in-memory
 * batch; every flush interval (or sooner, once it holds 4,096 readings, or
 * 256 while the forwarder has nothing in flight) the batch is committed to
 * the spool in one transaction, and only then does each connection that
 * contributed send its one cumulative ACK.
 *
 * This is where the link's promise is kept: an ACK goes out strictly after
 * the commit that made its readings durable. A failed commit sends no ACK;
 * the connections involved are closed with ERROR 4 so their sensors resend.
 *
 * A sensor session is one producer; any other (a source polled inside the
 * gateway) takes part the same way: check {@linkcode Committer.hasRoom},
 * {@linkcode Committer.add} its readings as a {@linkcode CommitParty}, and
 * hear `committed` or `commitFailed`.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { encodeReadingRecord, type Reading, READING_RECORD_SIZE } from "../protocol/mod.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { MAX_BATCH_READINGS, type Spool } from "./spool.ts";

/**
 * Readings that make a batch worth committing before the flush interval
 * ends. A sensor has at most its window (500 by default) unacknowledged, so
 * a few sensors sending flat out would fill their windows and then idle out
 * the rest of the interval. Below a spool row (10,000) so a commit never has
 * to wait for one.
 */
export const EARLY_COMMIT_READINGS = 4_096;

/**
 * Readings that make a batch worth committing at once while the forwarder
 * has nothing in flight: it posts the batch straight away, so waiting out
 * the flush interval would only make its readings older. So at tens of
 * thousands of readings a second commits follow the server's round trip
 * rather than the interval. Large enough that a plant's steady trickle
 * still commits on the interval (each commit here is also a request and a
 * commit at the server, whose cost is mostly per commit). Only while
 * nothing is in flight: with a request at the server, another small one
 * would take the server's time from it (flat out, the lanes stay busy and
 * the 4,096 early commit does the work).
 */
export const IDLE_COMMIT_READINGS = 256;

/** A contributor to a batch: told once the batch is durable, or that it failed. */
export interface CommitParty {
  /** The batch holding this party's readings is durable: ACK them. */
  committed(): void;
  /** The batch could not be stored: nothing of it may be ACKed. */
  commitFailed(reason: string): void;
}

/** Options of a {@linkcode Committer}. */
export interface CommitterOptions {
  /** Longest time a reading waits for its commit, in ms (the protocol's 50 ms by default). */
  readonly flushMs: number;
  /** The spool's drain: while it has nothing in flight, a batch of 256 is committed at once. */
  readonly drain?: { readonly idle: boolean };
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
}

/** Collects readings and commits them in batches. */
export class Committer {
  #spool: Spool;
  #options: CommitterOptions;
  #buffer = new Uint8Array(1024 * READING_RECORD_SIZE);
  #count = 0;
  #parties = new Set<CommitParty>();
  /** Device-source sensors in the batch: the last seq each was given. */
  #seqs = new Map<number, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** A commit on the next turn of the event loop is set. */
  #soon = false;

  constructor(spool: Spool, options: CommitterOptions) {
    this.#spool = spool;
    this.#options = options;
    // Rows removed: a request ended; look once the forwarder has settled it.
    if (options.drain) spool.on("removed", () => queueMicrotask(this.#commitIfIdle));
  }

  /** Readings accepted but not yet committed. */
  get pending(): number {
    return this.#count;
  }

  /** Whether `readings` more fit under the spool bound, counting what is pending. */
  hasRoom(readings = 1): boolean {
    return this.#spool.hasRoom(this.#count + readings);
  }

  /**
   * Adds a reading to the batch; `party` hears when it is durable. With
   * `markSeq` (a device source, which has no sender to keep its counter) the
   * reading's seq is stored with the batch as its sensor's last.
   */
  add(reading: Reading, party: CommitParty, markSeq = false): void {
    if (markSeq) this.#seqs.set(reading.sensorId, reading.seq);
    const offset = this.#count * READING_RECORD_SIZE;
    if (offset + READING_RECORD_SIZE > this.#buffer.length) this.#grow();
    encodeReadingRecord(this.#buffer, offset, reading);
    this.#count++;
    this.#parties.add(party);
    if (this.#count === 1) {
      this.#timer = setTimeout(this.flush, this.#options.flushMs);
    } else if (this.#count === EARLY_COMMIT_READINGS) {
      // Enough for one efficient commit: waiting longer only holds back ACKs
      // that senders, their windows full, are waiting for. Commit on the next
      // turn of the event loop rather than inside the caller's decode loop,
      // which must not be re-entered.
      this.#commitSoon();
    } else if (this.#count === IDLE_COMMIT_READINGS) {
      this.#commitIfIdle();
    }
  }

  #commitIfIdle = (): void => {
    if (this.#count >= IDLE_COMMIT_READINGS && this.#options.drain?.idle) this.#commitSoon();
  };

  #commitSoon(): void {
    if (this.#soon) return;
    clearTimeout(this.#timer);
    this.#soon = true;
    this.#timer = setTimeout(this.flush, 0);
  }

  /** Commits the batch now and notifies its parties. Safe to call at any time. */
  flush = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#soon = false;
    if (this.#count === 0) return;
    const count = this.#count;
    const parties = this.#parties;
    const seqs = this.#seqs;
    this.#count = 0;
    this.#parties = new Set();
    this.#seqs = new Map();
    const { metrics, log } = this.#options;
    try {
      this.#spool.commit(this.#buffer.subarray(0, count * READING_RECORD_SIZE), count, seqs);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      metrics.values.commit_failures++;
      log.error(`Cannot commit ${count} readings to the spool: ${message}`);
      for (const party of parties) party.commitFailed("cannot store readings now");
      return;
    }
    metrics.values.commits++;
    for (const party of parties) party.committed();
    // Give the memory back after a burst rather than holding the peak forever.
    if (this.#buffer.length > 4 * MAX_BATCH_READINGS * READING_RECORD_SIZE) {
      this.#buffer = new Uint8Array(1024 * READING_RECORD_SIZE);
    }
  };

  #grow(): void {
    const bigger = new Uint8Array(this.#buffer.length * 2);
    bigger.set(this.#buffer.subarray(0, this.#count * READING_RECORD_SIZE));
    this.#buffer = bigger;
  }
}
