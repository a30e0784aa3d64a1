/**
 * Group commit: readings from every connection collect in one in-memory
 * batch; every flush interval (or sooner, once it holds 4,096 readings) the
 * batch is committed to the spool in one transaction, and only then does
 * each connection that contributed send its one cumulative ACK.
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

  constructor(spool: Spool, options: CommitterOptions) {
    this.#spool = spool;
    this.#options = options;
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
      clearTimeout(this.#timer);
      this.#timer = setTimeout(this.flush, 0);
    }
  }

  /** Commits the batch now and notifies its parties. Safe to call at any time. */
  flush = (): void => {
    clearTimeout(this.#timer);
    this.#timer = undefined;
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
