// @ts-check
/**
 * The latest out-of-range episodes, free of the DOM: what the out-of-range
 * list (`events.js`) shows, fed every reading and series bucket in storage
 * order.
 *
 * @module
 */

import { judge, QUANTITIES } from "./model.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").Bound} Bound */
/** @typedef {import("./model.js").Thresholds} Thresholds */

/**
 * An out-of-range episode: consecutive out-of-range values of one sensor and
 * quantity on the same side of the range, from `start` to `t`, shown as one
 * entry (a sensor stuck out of range for an hour is one event, not 3,600).
 * `value` is the latest value, `peak` the farthest from the limit. Buckets
 * (1 h and 24 h windows) count as values with `bucketMs` set.
 * @typedef {{
 *   key: string, id: number, quantity: Quantity, bound: Bound, limit: number, unit: string,
 *   start: number, t: number, value: number, peak: number, count: number, bucketMs?: number
 * }} OutOfRangeEvent
 */

/** How many reading keys the log remembers to ignore a reading seen twice. */
const SEEN = 4096;

/**
 * The latest out-of-range episodes, most recently active first, at most
 * `max`. Feed it every reading in storage order (in range ones too: they end
 * the open episode of their sensor and quantity).
 */
export class EventLog {
  #max;
  /** @type {OutOfRangeEvent[]} */
  #events = [];
  /** @type {Map<string, OutOfRangeEvent>} open episode by "id/quantity" */
  #open = new Map();
  /** @type {Set<string>} */
  #seen = new Set();
  #serial = 0;

  constructor(max = 50) {
    this.#max = max;
  }

  /** Most recently active first. */
  get events() {
    return /** @type {readonly OutOfRangeEvent[]} */ (this.#events);
  }

  /**
   * Judges one reading (its measured quantities). Returns true when the list changed.
   * @param {Reading} reading
   * @param {Thresholds} thresholds
   */
  observe(reading, thresholds) {
    const key = `${reading.id}/${reading.seq}/${reading.t}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    if (this.#seen.size > SEEN) {
      for (const old of this.#seen) {
        this.#seen.delete(old);
        break;
      }
    }
    let changed = false;
    for (const quantity of QUANTITIES) {
      const value = reading[quantity];
      // Not measured: neither out of range nor back in range.
      if (value === null) continue;
      changed = this.#record(reading.id, quantity, reading.t, value, value, thresholds[quantity]) ||
        changed;
    }
    return changed;
  }

  /**
   * Judges one bucket of `/api/series` by its min and max.
   * @param {number} id
   * @param {number} t bucket start
   * @param {Quantity} quantity
   * @param {{min: number, max: number}} stats
   * @param {Thresholds} thresholds
   * @param {number} bucketMs
   */
  observeBucket(id, t, quantity, stats, thresholds, bucketMs) {
    return this.#record(id, quantity, t, stats.min, stats.max, thresholds[quantity], bucketMs);
  }

  /**
   * @param {number} id
   * @param {Quantity} quantity
   * @param {number} t
   * @param {number} low
   * @param {number} high
   * @param {import("./model.js").SafeRange} range
   * @param {number} [bucketMs]
   */
  #record(id, quantity, t, low, high, range, bucketMs) {
    const openKey = `${id}/${quantity}`;
    const open = this.#open.get(openKey);
    const bound = judge(high, range) === "above" ? "above" : judge(low, range);
    if (!bound) {
      if (open && t >= open.t) this.#open.delete(openKey);
      return false;
    }
    const value = bound === "above" ? high : low;
    const limit = bound === "above" ? range.max : range.min;
    if (open && open.bound === bound) {
      if (t >= open.t) {
        open.t = t;
        open.value = value;
      }
      open.start = Math.min(open.start, t);
      open.peak = bound === "above" ? Math.max(open.peak, value) : Math.min(open.peak, value);
      open.count++;
      this.#events.splice(this.#events.indexOf(open), 1);
      this.#insert(open);
      return true;
    }
    /** @type {OutOfRangeEvent} */
    const event = {
      key: `e${++this.#serial}`,
      id,
      quantity,
      bound,
      limit,
      unit: range.unit ?? "",
      start: t,
      t,
      value,
      peak: value,
      count: 1,
      ...(bucketMs ? { bucketMs } : {}),
    };
    if (!this.#insert(event)) return false;
    this.#open.set(openKey, event);
    return true;
  }

  /**
   * Inserts by `t`, newest first; drops the oldest past `max`.
   * @param {OutOfRangeEvent} event
   */
  #insert(event) {
    const events = this.#events;
    if (events.length === this.#max && event.t < (events.at(-1)?.t ?? -Infinity)) return false;
    let at = 0;
    while (at < events.length && (events[at]?.t ?? 0) > event.t) at++;
    events.splice(at, 0, event);
    if (events.length > this.#max) {
      const dropped = events.pop();
      if (dropped && this.#open.get(`${dropped.id}/${dropped.quantity}`) === dropped) {
        this.#open.delete(`${dropped.id}/${dropped.quantity}`);
      }
    }
    return true;
  }
}
