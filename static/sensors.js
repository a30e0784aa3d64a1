// @ts-check
/**
 * What the sensors table shows, free of the DOM: each sensor's last
 * reading, when it was last heard from and whether it has gone silent.
 * (The out-of-range episodes are in `event_log.js`.)
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

/** @typedef {import("./model.js").Reading} Reading */

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
