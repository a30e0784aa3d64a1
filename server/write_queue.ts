/**
 * The write queue's budget: how long a `POST /api/data` arriving now would
 * wait before the writer takes it, and whether that is within the budget.
 *
 * The writer's rate is measured, not configured: readings answered per
 * second while the queue was not empty (an idle writer says nothing about
 * its speed), smoothed over samples of at least {@linkcode SAMPLE_MS}. A
 * request's wait is what is queued ahead of it divided by that rate; its own
 * readings do not count, so a request to an idle writer is always taken,
 * however large. Until the first sample the rate is unknown and every
 * request is taken.
 *
 * Pure bookkeeping with the clock passed in, so tests drive it directly.
 *
 * ```ts
 * import { WriteQueue } from "./write_queue.ts";
 * const queue = new WriteQueue(250);
 * queue.enter(10_000, 0);
 * queue.leave(10_000, 100, true); // 100,000 readings/s
 * queue.enter(40_000, 100);
 * console.assert(queue.waitMs() === 400 && !queue.admits());
 * ```
 *
 * @module
 */

/** Shortest stretch of busy time one rate sample covers, in ms. */
export const SAMPLE_MS = 50;
/** Weight of a new sample in the smoothed rate. */
const SMOOTHING = 0.5;

/** Readings queued for the writer and its measured rate; see the module doc. */
export class WriteQueue {
  readonly budgetMs: number;
  #queued = 0;
  /** Readings per ms, undefined until measured. */
  #rate: number | undefined;
  #sampleStart = 0;
  #sampleDone = 0;

  /** `budgetMs`: the longest wait a request is let in for. */
  constructor(budgetMs: number) {
    this.budgetMs = budgetMs;
  }

  /** Readings queued and not yet answered. */
  get queued(): number {
    return this.#queued;
  }

  /** The measured rate in readings per second (undefined until measured). */
  get ratePerSecond(): number | undefined {
    return this.#rate === undefined ? undefined : this.#rate * 1000;
  }

  /** The estimated wait, in ms, of a request arriving now before the writer takes it. */
  waitMs(): number {
    if (this.#queued === 0 || this.#rate === undefined) return 0;
    return this.#queued / this.#rate;
  }

  /** Whether a request arriving now would be taken within the budget. */
  admits(): boolean {
    return this.waitMs() <= this.budgetMs;
  }

  /** `readings` joined the queue at `now` (ms). */
  enter(readings: number, now: number): void {
    if (this.#queued === 0) {
      // The writer was idle: a sample starts with its first request.
      this.#sampleStart = now;
      this.#sampleDone = 0;
    }
    this.#queued += readings;
  }

  /** `readings` were answered at `now`: `written` when stored, false when the write failed. */
  leave(readings: number, now: number, written: boolean): void {
    this.#queued = Math.max(0, this.#queued - readings);
    if (!written) return;
    this.#sampleDone += readings;
    const elapsed = now - this.#sampleStart;
    if (elapsed < SAMPLE_MS) return;
    const rate = this.#sampleDone / elapsed;
    this.#rate = this.#rate === undefined ? rate : this.#rate + (rate - this.#rate) * SMOOTHING;
    this.#sampleStart = now;
    this.#sampleDone = 0;
  }
}
