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
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { encodeReadingRecord, type Reading, READING_RECORD_SIZE } from "../protocol/mod.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { MAX_BATCH_READINGS, type Spool } from "./spool.ts";

/**
 * Readings that make a batch worth committing before the flush interval
 * ends. A sensor has at most its window (500 by default) unacknowledged, so
 * a few sensors sending flat out fill their windows and then wait out the
 * interval: with 10 sensors, 5,000 readings per 50 ms capped them at 85k/s.
 * Below a spool row (10,000) so a commit never has to wait for one.
 */
export const EARLY_COMMIT_READINGS = 4_096;

/** A contributor to a batch: told once the batch is durable, or that it failed. */
export interface CommitParty {
  /** The batch holding this party's readings is durable: ACK them. */
  committed(): void;
  /** The batch could not be stored: nothing of it may be ACKed. */
  commitFailed(reason: string): void;
}

/** A sender held while the spool is full (see {@linkcode Committer.hold}). */
export interface RoomWaiter {
  /**
   * Room may have appeared: go on with what was held and return true, or
   * return false to stay held. With `force` (the hold ran out) it must go
   * on, and readings past the bound are refused as without a hold.
   */
  release(force: boolean): boolean;
}

/** Longest a sender is held for room before it is refused (ERROR 4) as without a hold. */
export const MAX_HOLD_MS = 2_000;

/** Options of a {@linkcode Committer}. */
export interface CommitterOptions {
  /** Longest time a reading waits for its commit, in ms (the protocol's 50 ms by default). */
  readonly flushMs: number;
  readonly metrics: GatewayMetrics;
  readonly log: Logger;
  /** Called after each successful commit (wakes the forwarder). */
  readonly onCommit?: () => void;
  /** Whether the server is taking the spool's rows now (default: never), see {@linkcode Committer.hold}. */
  readonly draining?: () => boolean;
}

/** Collects readings and commits them in batches. */
export class Committer {
  #spool: Spool;
  #options: CommitterOptions;
  #buffer = new Uint8Array(1024 * READING_RECORD_SIZE);
  #count = 0;
  #parties = new Set<CommitParty>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Senders held for room, oldest first. */
  #held: { waiter: RoomWaiter; since: number }[] = [];
  #holdTimer: ReturnType<typeof setTimeout> | undefined;

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
   * Holds a sender that found the spool full, if the server is draining it:
   * refusing (ERROR 4) would only make the sensor reconnect, a TLS
   * handshake at both ends, and come back to a spool that has room again a
   * few milliseconds later. Held senders go on, oldest first, as the
   * forwarder frees room ({@linkcode roomFreed}), or after
   * {@linkcode MAX_HOLD_MS} regardless. Returns false (holding nothing) when
   * the spool is not draining: an outage, where refusing is right.
   */
  hold(waiter: RoomWaiter): boolean {
    if (!(this.#options.draining?.() ?? false)) return false;
    this.#held.push({ waiter, since: performance.now() });
    this.#holdTimer ??= setTimeout(this.#expireHolds, MAX_HOLD_MS);
    this.#options.metrics.values.room_holds++;
    return true;
  }

  /** Rows left the spool: held senders go on, oldest first, while there is room. */
  roomFreed = (): void => {
    while (this.#held.length > 0 && this.#held[0]!.waiter.release(false)) this.#held.shift();
    if (this.#held.length === 0) {
      clearTimeout(this.#holdTimer);
      this.#holdTimer = undefined;
    }
  };

  /** Lets every held sender go (shutdown): it was never ACKed, so its sensor resends. */
  releaseHolds(): void {
    clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    for (const { waiter } of this.#held.splice(0)) waiter.release(true);
  }

  #expireHolds = (): void => {
    this.#holdTimer = undefined;
    const now = performance.now();
    while (this.#held.length > 0 && now - this.#held[0]!.since >= MAX_HOLD_MS) {
      this.#held.shift()!.waiter.release(true);
    }
    const oldest = this.#held[0];
    if (oldest !== undefined) {
      this.#holdTimer = setTimeout(this.#expireHolds, MAX_HOLD_MS - (now - oldest.since));
    }
  };

  /** Adds a reading to the batch; `party` hears when it is durable. */
  add(reading: Reading, party: CommitParty): void {
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
    this.#count = 0;
    this.#parties = new Set();
    const { metrics, log } = this.#options;
    try {
      this.#spool.commit(this.#buffer.subarray(0, count * READING_RECORD_SIZE), count);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      metrics.values.commit_failures++;
      log.error(`Cannot commit ${count} readings to the spool: ${message}`);
      for (const party of parties) party.commitFailed("cannot store readings now");
      return;
    }
    metrics.values.commits++;
    metrics.values.spool_depth = this.#spool.depth;
    metrics.values.spool_batches = this.#spool.batches;
    for (const party of parties) party.committed();
    this.#options.onCommit?.();
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
