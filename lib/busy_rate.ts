/**
 * The measured speed of something that works through a queue: units done
 * per millisecond of busy time, that is while something was outstanding.
 * Idle time says nothing about speed and is left out, so many short busy
 * spells (small requests at a light load) add up to one sample; a failure
 * says nothing either and drops the sample it was part of. Samples of at
 * least {@linkcode SAMPLE_MS} of busy time are smoothed into the rate.
 *
 * The server's write queue measures its writer with it (readings answered
 * per second), the gateway's forwarder the server (readings stored per
 * second). Pure bookkeeping with the clock passed in.
 *
 * ```ts
 * import { BusyRate } from "./busy_rate.ts";
 * const rate = new BusyRate();
 * rate.start(5_000, 0);
 * rate.finish(5_000, 40, true);
 * rate.start(5_000, 1_000); // an idle second between: not counted
 * rate.finish(5_000, 1_060, true);
 * console.assert(rate.perSecond === 100_000 && rate.outstanding === 0);
 * ```
 *
 * @module
 */

/** Least busy time one sample covers, in ms. */
export const SAMPLE_MS = 50;
/** Weight of a new sample in the smoothed rate. */
const SMOOTHING = 0.5;

/** Units outstanding and the rate they are done at; see the module doc. */
export class BusyRate {
  #outstanding = 0;
  /** Units per ms, undefined until measured. */
  #rate: number | undefined;
  /** Since when busy time has not been added to the sample yet. */
  #busySince = 0;
  #sampleBusyMs = 0;
  #sampleDone = 0;

  /** Units started and not yet finished. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** Units done per second of busy time; undefined until the first sample. */
  get perSecond(): number | undefined {
    return this.#rate === undefined ? undefined : this.#rate * 1000;
  }

  /** Milliseconds the outstanding units take at the measured rate (0 while unmeasured). */
  backlogMs(): number {
    if (this.#outstanding === 0 || this.#rate === undefined) return 0;
    return this.#outstanding / this.#rate;
  }

  /** `units` started at `now` (ms). */
  start(units: number, now: number): void {
    if (this.#outstanding === 0) this.#busySince = now;
    this.#outstanding += units;
  }

  /** `units` finished at `now`: `done` when they were done, false when they failed. */
  finish(units: number, now: number, done: boolean): void {
    this.#outstanding = Math.max(0, this.#outstanding - units);
    this.#sampleBusyMs += now - this.#busySince;
    this.#busySince = now;
    if (!done) {
      this.#sampleBusyMs = 0;
      this.#sampleDone = 0;
      return;
    }
    this.#sampleDone += units;
    if (this.#sampleBusyMs < SAMPLE_MS) return;
    const rate = this.#sampleDone / this.#sampleBusyMs;
    this.#rate = this.#rate === undefined ? rate : this.#rate + (rate - this.#rate) * SMOOTHING;
    this.#sampleBusyMs = 0;
    this.#sampleDone = 0;
  }
}
