/**
 * How many readings the spool takes before senders wait: the gateway's
 * admission limit, in two regimes.
 *
 * - **The server takes readings** (the forwarder is draining and has
 *   measured its rate): the spool holds at most `--backlog-ms` of
 *   forwarding at the measured rate. A sensor whose readings would go past
 *   that is held (its socket not read, its ACKs late, its window full,
 *   see {@linkcode RoomGate}) rather than queued: under overload the wait
 *   is the sensors', not the operators'.
 * - **Forwarding stalls** (server down, 5xx, timeouts): the limit is
 *   `--spool-max`, so the spool rides out an outage up to its hard bound.
 *
 * The hand-over is smooth both ways. Into a stall the limit jumps up,
 * which only lets held senders go. Out of one, the spool may hold far more
 * than the budget; holding everybody until it drained would stall the
 * plant for as long as the outage left to forward. So the limit starts at
 * the backlog plus the budget and comes down at half the drain rate (or
 * with the backlog, when that drains faster): live readings get at least
 * half the server while the backlog drains, and nobody is refused.
 *
 * The limit counts the requests in flight, and the budget is for the
 * server's time on them (its queue and its work); two network round trips
 * come on top, one for the request in flight and one for the readings
 * gathering behind it: the least of the recent requests' round trips, each
 * less the time the server says it spent on it, so a busy server cannot
 * pass for a far one. Without them a far server is throttled by its
 * distance: the rate is measured, not known, and a limit of less than a
 * round trip holds requests to less than the round trip could carry, which
 * lowers the rate measured and so the limit, down to
 * {@linkcode MIN_LIMIT_READINGS}, however little the plant sends. On one
 * machine or a plant network the round trip is a millisecond or two.
 *
 * Pure bookkeeping with the clock passed in.
 *
 * @module
 */

/**
 * The least the limit is while the server takes readings, so a tiny
 * measured rate cannot shut the door; and the limit before the rate is
 * measured: a slow start, the requests and the measured rate growing
 * together from it within a few round trips.
 */
export const MIN_LIMIT_READINGS = 100;

/** What the admission limit reads from the forwarder. */
export interface Drain {
  /** Whether the server is taking rows now. */
  readonly draining: boolean;
  /** Readings the server stored per second of forwarding, undefined until measured. */
  readonly drainRate: number | undefined;
  /** The least network round trip of the recent requests, in ms; undefined until one was answered. */
  readonly roundTripMs: number | undefined;
}

/** Options of an {@linkcode Admission}. */
export interface AdmissionOptions {
  /** Milliseconds of forwarding the spool holds while the server takes readings; 0: no budget. */
  readonly budgetMs: number;
  /** The spool's hard bound (`--spool-max`). */
  readonly maxReadings: number;
  readonly drain: Drain;
  /** The clock, in ms (default `performance.now`). */
  readonly now?: () => number;
}

/** The admission limit; see the module doc. */
export class Admission {
  #options: AdmissionOptions;
  #now: () => number;
  /** The limit while draining, as last computed; undefined in (or straight after) a stall. */
  #limit: number | undefined;
  #at = 0;

  constructor(options: AdmissionOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * `--backlog-ms` plus two network round trips of forwarding at the
   * measured rate, in readings; 0 without a budget or a rate.
   */
  budgetReadings(): number {
    const { budgetMs, drain } = this.#options;
    const rate = drain.drainRate;
    if (budgetMs === 0 || rate === undefined) return 0;
    return Math.max(MIN_LIMIT_READINGS, rate * (budgetMs + 2 * (drain.roundTripMs ?? 0)) / 1000);
  }

  /** Readings the spool may hold now, given it holds `depth`. */
  limit(depth: number): number {
    const { budgetMs, maxReadings, drain } = this.#options;
    const rate = drain.drainRate;
    if (budgetMs === 0 || !drain.draining) {
      this.#limit = undefined;
      return maxReadings;
    }
    if (rate === undefined) return Math.min(maxReadings, MIN_LIMIT_READINGS);
    const now = this.#now();
    const budget = this.budgetReadings();
    const comeDown = rate / 2 * (now - this.#at) / 1000;
    this.#limit = this.#limit === undefined
      ? depth + budget
      : Math.max(budget, Math.min(this.#limit - comeDown, depth + budget));
    this.#at = now;
    return Math.min(maxReadings, Math.round(this.#limit));
  }
}
