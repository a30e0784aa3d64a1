/**
 * The write queue's budget: how long a `POST /api/data` arriving now would
 * wait before the writer takes it, and whether that is within the budget.
 *
 * The writer's rate is measured, not configured ({@linkcode BusyRate}:
 * readings answered per second while the queue was not empty). A request's
 * wait is what is queued ahead of it at that rate; its own readings do not
 * count, so a request to an idle writer is always taken, however large.
 * Until the rate is measured every request is taken.
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

import { BusyRate } from "../lib/busy_rate.ts";

export { SAMPLE_MS } from "../lib/busy_rate.ts";

/** Readings queued for the writer and its measured rate; see the module doc. */
export class WriteQueue {
  readonly budgetMs: number;
  #rate = new BusyRate();

  /** `budgetMs`: the longest wait a request is let in for. */
  constructor(budgetMs: number) {
    this.budgetMs = budgetMs;
  }

  /** Readings queued and not yet answered. */
  get queued(): number {
    return this.#rate.outstanding;
  }

  /** The measured rate in readings per second (undefined until measured). */
  get ratePerSecond(): number | undefined {
    return this.#rate.perSecond;
  }

  /** The estimated wait, in ms, of a request arriving now before the writer takes it. */
  waitMs(): number {
    return this.#rate.backlogMs();
  }

  /** Whether a request arriving now would be taken within the budget. */
  admits(): boolean {
    return this.waitMs() <= this.budgetMs;
  }

  /** `readings` joined the queue at `now` (ms). */
  enter(readings: number, now: number): void {
    this.#rate.start(readings, now);
  }

  /** `readings` were answered at `now`: `written` when stored, false when the write failed. */
  leave(readings: number, now: number, written: boolean): void {
    this.#rate.finish(readings, now, written);
  }
}
