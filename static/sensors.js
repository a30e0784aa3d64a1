// @ts-check
/**
 * What the side panels show, free of the DOM: each sensor's last reading,
 * when it was last heard from and whether it has gone silent, and the latest
 * out-of-range episodes.
 *
 * A sensor is stale once silent for {@linkcode STALE_INTERVALS} times its
 * interval. The interval is observed, not configured: the median gap between
 * its last few readings (robust to one late or lost reading), or, before the
 * page has seen two readings, its lifetime average from `/api/sensors`
 * (`(last_seen − first_seen) / (readings − 1)`), or else
 * {@linkcode DEFAULT_INTERVAL_MS}. Never stale sooner than
 * {@linkcode MIN_STALE_MS}, so a 1 Hz sensor does not flicker with the
 * server's 250 ms push batching.
 *
 * @module
 */

import { judge, QUANTITIES } from "./model.js";

/** @typedef {import("./model.js").Reading} Reading */
/** @typedef {import("./model.js").Quantity} Quantity */
/** @typedef {import("./model.js").Bound} Bound */
/** @typedef {import("./model.js").Thresholds} Thresholds */

/** A sensor is stale after this many intervals without a reading. */
export const STALE_INTERVALS = 3;
/** The interval assumed for a sensor seen only once. */
export const DEFAULT_INTERVAL_MS = 10_000;
/** The shortest silence reported as stale. */
export const MIN_STALE_MS = 3_000;
/** How many recent timestamps the interval estimate uses. */
const RECENT = 9;

/**
 * One entry of `/api/sensors`, parsed (times in epoch ms).
 * @typedef {{
 *   id: number, readings: number, firstSeen: number, lastSeen: number, last: Reading | undefined
 * }} SensorSummary
 */

/**
 * What the panel knows of a sensor.
 * @typedef {{
 *   id: number, last: Reading | undefined, lastSeen: number,
 *   recent: number[], lifetimeIntervalMs: number | undefined
 * }} SensorState
 */

/** The known sensors, their last reading and their observed interval. */
export class SensorBook {
  /** @type {Map<number, SensorState>} */
  #sensors = new Map();

  /** Sensor ids, ascending. */
  get ids() {
    return [...this.#sensors.keys()].sort((a, b) => a - b);
  }

  /**
   * @param {number} id
   * @returns {SensorState | undefined}
   */
  get(id) {
    return this.#sensors.get(id);
  }

  /**
   * Records a sensor from `/api/sensors`.
   * @param {SensorSummary} summary
   */
  addSummary(summary) {
    const state = this.#state(summary.id);
    if (summary.readings > 1 && summary.lastSeen > summary.firstSeen) {
      state.lifetimeIntervalMs = (summary.lastSeen - summary.firstSeen) / (summary.readings - 1);
    }
    if (summary.last && summary.lastSeen >= state.lastSeen) {
      state.last = summary.last;
      state.lastSeen = summary.lastSeen;
    }
  }

  /**
   * Records a reading. Returns true when the sensor was new.
   * @param {Reading} reading
   */
  observe(reading) {
    const isNew = !this.#sensors.has(reading.id);
    const state = this.#state(reading.id);
    if (reading.t >= state.lastSeen) {
      state.last = reading;
      state.lastSeen = reading.t;
    }
    const recent = state.recent;
    if (recent.length === RECENT && reading.t <= (recent[0] ?? 0)) return isNew;
    let at = recent.length;
    while (at > 0 && (recent[at - 1] ?? 0) > reading.t) at--;
    if (recent[at - 1] === reading.t) return isNew;
    recent.splice(at, 0, reading.t);
    if (recent.length > RECENT) recent.shift();
    return isNew;
  }

  /**
   * The sensor's observed interval in ms, or undefined when unknown.
   * @param {number} id
   */
  intervalOf(id) {
    const state = this.#sensors.get(id);
    if (!state) return undefined;
    const gaps = [];
    for (let i = 1; i < state.recent.length; i++) {
      gaps.push((state.recent[i] ?? 0) - (state.recent[i - 1] ?? 0));
    }
    if (gaps.length === 0) return state.lifetimeIntervalMs;
    gaps.sort((a, b) => a - b);
    return gaps[gaps.length >> 1];
  }

  /**
   * How long the sensor may stay silent before it counts as stale, in ms.
   * @param {number} id
   */
  staleAfter(id) {
    const interval = this.intervalOf(id) ?? DEFAULT_INTERVAL_MS;
    return Math.max(STALE_INTERVALS * interval, MIN_STALE_MS);
  }

  /**
   * @param {number} id
   * @param {number} now epoch ms
   */
  isStale(id, now) {
    const state = this.#sensors.get(id);
    return !state || now - state.lastSeen > this.staleAfter(id);
  }

  /** @param {number} id */
  #state(id) {
    let state = this.#sensors.get(id);
    if (!state) {
      state = {
        id,
        last: undefined,
        lastSeen: -Infinity,
        recent: [],
        lifetimeIntervalMs: undefined,
      };
      this.#sensors.set(id, state);
    }
    return state;
  }
}

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
