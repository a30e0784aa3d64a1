/**
 * A sensor's adaptive in-flight window, delay-based like TCP Vegas or
 * LEDBAT: the send-to-ACK time of the oldest reading an ACK covers is the
 * congestion signal. Above the latency target the window shrinks
 * multiplicatively (by target ÷ delay, at most by half, at most once per
 * round trip so one slow round is not punished once per ACK); at or under
 * it, the window grows by one reading per window's worth acknowledged (one
 * per round trip), back up to `--window`. With `slowStart` it begins at the
 * floor and doubles each round trip (one more reading per reading
 * acknowledged in time) until the first late ACK, as TCP's slow start does:
 * a thousand sensors that all began with their whole window would timestamp
 * half a million readings at once, which then wait seconds for the gateway.
 *
 * Why: every reading in flight is already timestamped, so with many sensors
 * flat out a fixed window turns into queueing delay (Little's law: sensors ×
 * window ÷ throughput). Shrinking the windows until ACKs come back within
 * the target keeps that delay bounded while enough stays in flight to keep
 * the gateway busy.
 *
 * Pure: the caller passes the clock, so tests drive it with plain numbers.
 *
 * @example Shrinks on a slow ACK, grows back on fast ones
 * ```ts
 * import assert from "node:assert/strict";
 * import { InFlightWindow } from "./window.ts";
 *
 * const window = new InFlightWindow({ max: 100, floor: 8, targetMs: 100 });
 * assert.equal(window.size, 100);
 * window.onAck(10, 400, 1_000); // four times the target: cut in half
 * assert.equal(window.size, 50);
 * window.onAck(50, 20, 1_100); // a whole window acknowledged in time: one more
 * assert.equal(window.size, 51);
 * ```
 *
 * @module
 */

/** Options of an {@linkcode InFlightWindow}. */
export interface InFlightWindowOptions {
  /** The most readings in flight (`--window`); the window starts here unless `slowStart`. */
  readonly max: number;
  /** The fewest readings in flight the window shrinks to. */
  readonly floor: number;
  /** ACKs slower than this shrink the window; 0 = fixed window. */
  readonly targetMs: number;
  /** Start at the floor and double each round trip until an ACK is late (default false). */
  readonly slowStart?: boolean;
}

/** The smallest window the sensor shrinks to by default. */
export const WINDOW_FLOOR = 8;
/** The deepest single cut: half the window. */
const MAX_CUT = 0.5;

/** The adaptive window of one sensor (kept across its reconnects). */
export class InFlightWindow {
  readonly max: number;
  readonly floor: number;
  readonly targetMs: number;
  #size: number;
  /** When the last cut took effect; no other cut until a round trip later. */
  #cutAt = -Infinity;
  /** Doubling each round trip until the first late ACK. */
  #slowStart: boolean;

  constructor(options: InFlightWindowOptions) {
    const { max, targetMs } = options;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot create window: max must be an integer >= 1, got ${max}`);
    }
    if (!(targetMs >= 0)) {
      throw new RangeError(`Cannot create window: target must be >= 0 ms, got ${targetMs}`);
    }
    this.max = max;
    this.floor = Math.min(max, Math.max(1, Math.floor(options.floor)));
    this.targetMs = targetMs;
    this.#slowStart = options.slowStart === true && targetMs > 0;
    this.#size = this.#slowStart ? this.floor : max;
  }

  /** Readings that may be in flight now. */
  get size(): number {
    return Math.floor(this.#size);
  }

  /**
   * An ACK covered `acked` readings; the oldest of them waited `delayMs`
   * from send to ACK; `now` is the caller's clock in ms.
   */
  onAck(acked: number, delayMs: number, now: number): void {
    if (this.targetMs === 0 || acked <= 0) return;
    if (delayMs > this.targetMs) {
      // One cut per round trip: the ACKs of the same slow round carry the same news.
      if (now - this.#cutAt < delayMs) return;
      this.#cutAt = now;
      this.#slowStart = false;
      const factor = Math.max(MAX_CUT, this.targetMs / delayMs);
      this.#size = Math.max(this.floor, this.#size * factor);
    } else {
      this.#size = Math.min(this.max, this.#size + (this.#slowStart ? acked : acked / this.#size));
    }
  }
}
