/**
 * A sensor's memory of its readings: every reading stays here from the
 * moment it is measured until an ACK covers it, in seq order.
 *
 * The front of the queue is what is in flight on the current connection
 * (sent, not yet acknowledged), the rest waits to be sent. A reconnect
 * rewinds: everything unacknowledged is sent again, oldest first. The queue
 * is bounded: when full, the oldest reading is dropped and counted (what a
 * device with finite memory must do during a long outage).
 *
 * Seqs in the queue are consecutive (readings are appended with seq + 1 and
 * only ever removed from the front), so the position of any seq is one
 * subtraction away, and u32 wrap-around needs no special case.
 *
 * @module
 */

import type { MeasuredReading } from "../protocol/mod.ts";

/** Bounded FIFO of unacknowledged readings with a send cursor. */
export class ReadingQueue {
  #items: MeasuredReading[] = [];
  #head = 0;
  /** Readings from the front sent on the current connection. */
  #inFlight = 0;
  /** Readings from the front sent at least once, on any connection. */
  #everSent = 0;
  readonly capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create queue: capacity must be >= 1, got ${capacity}`);
    }
    this.capacity = capacity;
  }

  /** Readings held (in flight plus waiting). */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Readings sent on this connection and not yet acknowledged. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Readings waiting to be sent on this connection. */
  get unsent(): number {
    return this.length - this.#inFlight;
  }

  /** Whether one more reading fits without dropping. */
  get full(): boolean {
    return this.length >= this.capacity;
  }

  /**
   * Appends a reading whose seq follows the last one. When the queue is
   * full the oldest reading is dropped first; returns how many were dropped
   * (0 or 1).
   */
  push(reading: MeasuredReading): number {
    let dropped = 0;
    if (this.full) {
      this.#head++;
      if (this.#inFlight > 0) this.#inFlight--;
      if (this.#everSent > 0) this.#everSent--;
      dropped = 1;
      this.#compact();
    }
    this.#items.push(reading);
    return dropped;
  }

  /**
   * Marks up to `max` waiting readings as sent and passes each to `visit`
   * with whether it was sent before (a resend). Returns how many.
   */
  send(max: number, visit: (reading: MeasuredReading, resend: boolean) => void): number {
    const count = Math.min(max, this.unsent);
    const start = this.#head + this.#inFlight;
    for (let i = 0; i < count; i++) {
      const position = this.#inFlight + i;
      visit(this.#items[start + i]!, position < this.#everSent);
    }
    this.#inFlight += count;
    if (this.#inFlight > this.#everSent) this.#everSent = this.#inFlight;
    return count;
  }

  /**
   * Applies a cumulative ACK: removes every in-flight reading up to and
   * including `seq`. Returns how many were removed; 0 for a seq that names
   * no in-flight reading (a stale or foreign ACK is ignored).
   */
  ack(seq: number): number {
    if (this.#inFlight === 0) return 0;
    const first = this.#items[this.#head]!.seq;
    const position = (seq - first) >>> 0;
    if (position >= this.#inFlight) return 0;
    const removed = position + 1;
    this.#head += removed;
    this.#inFlight -= removed;
    this.#everSent -= removed;
    this.#compact();
    return removed;
  }

  /** A new connection: everything unacknowledged is to be sent again, oldest first. */
  rewind(): void {
    this.#inFlight = 0;
  }

  #compact(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
