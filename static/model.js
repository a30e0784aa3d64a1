// @ts-check
/**
 * The dashboard's data, free of the DOM so it can be unit-tested under Deno:
 * per sensor and quantity the points of the window on screen (sorted by time,
 * bounded in age and count), the out-of-range marks, each sensor's last
 * reading and observed interval, and the list of latest out-of-range events.
 *
 * Two kinds of window: "raw" keeps every reading (15 min), "bucket" keeps
 * min/avg/max per time bucket (1 h, 24 h) and folds live readings into the
 * bucket they fall in, so a day of data stays a few hundred points per line.
 *
 * @module
 */

import { dropBefore, foldIntoBucket, insertAt, upperBound } from "./points.js";
import { QUANTITIES } from "./shared/reading.js";

export { QUANTITIES };

/** @typedef {import("./shared/reading.js").Quantity} Quantity */

/**
 * One reading as the page keeps it: the API's reading with `t`, its
 * timestamp in epoch ms, and `null` for a quantity the sensor does not
 * measure.
 * @typedef {import("./shared/reading.js").ApiReading} Reading
 */

/**
 * A point of a line. Raw points carry the reading's `seq` (to drop a reading
 * delivered twice); bucket points carry `min`, `max` and `count`, and `y` is
 * the bucket's average. `y` is `null` where the quantity was not measured:
 * Chart.js draws nothing there and breaks the line, so an absent value is
 * never drawn as zero nor bridged.
 * @typedef {{x: number, y: number | null, seq?: number, min?: number, max?: number, count?: number}} Point
 */

/**
 * An out-of-range mark on a chart: where it is, which sensor, which limit.
 * @typedef {{x: number, y: number, id: number, bound: Bound, limit: number}} Mark
 */

/** @typedef {"above" | "below"} Bound */

/** @typedef {{readonly min: number, readonly max: number, readonly unit?: string}} SafeRange */

/** @typedef {Readonly<Record<Quantity, SafeRange>>} Thresholds */

/**
 * How a value stands against its safe range (inclusive): `"above"`,
 * `"below"`, or `undefined` when inside (or when there is no range).
 * @param {number} value
 * @param {SafeRange | undefined} range
 * @returns {Bound | undefined}
 */
export function judge(value, range) {
  if (!range) return undefined;
  if (value > range.max) return "above";
  if (value < range.min) return "below";
  return undefined;
}

/**
 * The window's shape.
 * @typedef {{
 *   kind: "raw" | "bucket",
 *   spanMs: number,
 *   bucketMs?: number,
 *   origin?: number,
 *   maxPoints?: number,
 *   maxMarks?: number,
 * }} WindowOptions
 */

/** A sensor's lines and marks, one array per quantity (the charts draw these arrays). */
export class Track {
  /** @param {number} id */
  constructor(id) {
    this.id = id;
    /** @type {Record<Quantity, Point[]>} */
    this.points = { temperature: [], pressure: [], humidity: [] };
    /** @type {Record<Quantity, Mark[]>} */
    this.marks = { temperature: [], pressure: [], humidity: [] };
  }
}

/**
 * The points of every sensor in the window. Arrays are only ever changed in
 * place, because the charts hold them as their datasets' data.
 */
export class WindowModel {
  #options;
  #thresholds;
  /** @type {Map<number, Track>} */
  #tracks = new Map();

  /**
   * @param {WindowOptions} options
   * @param {Thresholds | undefined} thresholds
   */
  constructor(options, thresholds) {
    if (options.kind === "bucket" && !(options.bucketMs && options.bucketMs > 0)) {
      throw new RangeError(`Cannot create window: bucketMs must be positive`);
    }
    this.#options = {
      maxPoints: 4_000,
      maxMarks: 500,
      origin: 0,
      bucketMs: 0,
      ...options,
    };
    this.#thresholds = thresholds;
  }

  get kind() {
    return this.#options.kind;
  }

  get spanMs() {
    return this.#options.spanMs;
  }

  get bucketMs() {
    return this.#options.bucketMs;
  }

  /** The tracks by sensor id. */
  get tracks() {
    return /** @type {ReadonlyMap<number, Track>} */ (this.#tracks);
  }

  /**
   * The track of sensor `id`, created empty on first use.
   * @param {number} id
   */
  track(id) {
    let track = this.#tracks.get(id);
    if (!track) {
      track = new Track(id);
      this.#tracks.set(id, track);
    }
    return track;
  }

  /**
   * Adds one reading: a point per quantity (raw), or folded into its bucket.
   * Returns false when it was already there (raw windows only can tell).
   * @param {Reading} reading
   */
  addReading(reading) {
    const track = this.track(reading.id);
    if (this.#options.kind === "raw") {
      const first = track.points.temperature;
      const at = upperBound(first, reading.t);
      // Equal timestamps sit just before `at`: the same seq there is a repeat.
      for (let i = at - 1; i >= 0 && first[i]?.x === reading.t; i--) {
        if (first[i]?.seq === reading.seq) return false;
      }
      for (const quantity of QUANTITIES) {
        const value = reading[quantity];
        insertAt(track.points[quantity], at, { x: reading.t, y: value, seq: reading.seq });
        if (value !== null) this.#mark(track, quantity, reading.t, value, value);
      }
    } else {
      const x = this.bucketStart(reading.t);
      for (const quantity of QUANTITIES) {
        const value = reading[quantity];
        foldIntoBucket(track.points[quantity], x, value);
        if (value !== null) this.#mark(track, quantity, x, value, value);
      }
    }
    this.#bound(track);
    return true;
  }

  /**
   * Adds a bucket from `/api/series` (bucket windows); `stats` is null when
   * no reading of the bucket measured `quantity`.
   * @param {number} id
   * @param {number} x bucket start, epoch ms
   * @param {Quantity} quantity
   * @param {{min: number, avg: number, max: number} | null} stats
   * @param {number} count readings behind `stats`
   */
  addBucket(id, x, quantity, stats, count) {
    const track = this.track(id);
    const points = track.points[quantity];
    const at = upperBound(points, x);
    if (points[at - 1]?.x === x) return;
    if (stats === null) {
      insertAt(points, at, { x, y: null, count: 0 });
    } else {
      insertAt(points, at, { x, y: stats.avg, min: stats.min, max: stats.max, count });
      this.#mark(track, quantity, x, stats.min, stats.max);
    }
    this.#bound(track);
  }

  /**
   * Start of the bucket holding time `t`: buckets are laid from the window's
   * origin (the `since` of the series request) every `bucketMs`.
   * @param {number} t
   */
  bucketStart(t) {
    const { origin, bucketMs } = this.#options;
    return origin + Math.floor((t - origin) / bucketMs) * bucketMs;
  }

  /**
   * Drops every point and mark older than the window ending at `now`.
   * @param {number} now epoch ms
   */
  prune(now) {
    // A bucket is kept while any part of it is in the window.
    const oldest = now - this.#options.spanMs - this.#options.bucketMs;
    for (const track of this.#tracks.values()) {
      for (const quantity of QUANTITIES) {
        dropBefore(track.points[quantity], oldest);
        dropBefore(track.marks[quantity], oldest);
      }
    }
  }

  /**
   * Number of points of every track for `quantity` (what the chart holds).
   * @param {Quantity} quantity
   */
  pointCount(quantity) {
    let count = 0;
    for (const track of this.#tracks.values()) count += track.points[quantity].length;
    return count;
  }

  /**
   * @param {Track} track
   * @param {Quantity} quantity
   * @param {number} x
   * @param {number} low lowest value seen at x (the bucket's min, or the value)
   * @param {number} high highest value seen at x
   */
  #mark(track, quantity, x, low, high) {
    const range = this.#thresholds?.[quantity];
    if (!range) return;
    const marks = track.marks[quantity];
    const bound = judge(high, range) === "above" ? "above" : judge(low, range);
    if (!bound) return;
    const y = bound === "above" ? high : low;
    const limit = bound === "above" ? range.max : range.min;
    const at = upperBound(marks, x);
    const previous = marks[at - 1];
    // One mark per bucket: keep the most extreme value.
    if (this.#options.kind === "bucket" && previous?.x === x) {
      if (previous.bound === bound && Math.abs(y - limit) > Math.abs(previous.y - limit)) {
        previous.y = y;
      }
      return;
    }
    insertAt(marks, at, { x, y, id: track.id, bound, limit });
  }

  /** @param {Track} track */
  #bound(track) {
    for (const quantity of QUANTITIES) {
      const points = track.points[quantity];
      if (points.length > this.#options.maxPoints) {
        points.splice(0, points.length - this.#options.maxPoints);
      }
      const marks = track.marks[quantity];
      if (marks.length > this.#options.maxMarks) {
        marks.splice(0, marks.length - this.#options.maxMarks);
      }
    }
  }
}
