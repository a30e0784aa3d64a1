/**
 * Per-sensor and per-bucket summaries of newly stored readings: what the
 * store adds to its `sensors` and `rollups` tables.
 *
 * Aggregation happens here in JavaScript, over readings already in memory
 * and sorted by sensor and time, and summaries of many writes merge before
 * they reach SQLite, so the store pays one upsert per sensor and per touched
 * bucket every few hundred ms instead of a second pass over every row.
 *
 * @module
 */

import type { Reading } from "../protocol/mod.ts";
import { ROLLUP_WIDTHS } from "./schema.ts";

/**
 * The readings' count, then count, min, max and sum of each quantity in
 * hundredths, over the values present: a quantity without a value has
 * count 0, sum 0, min `Infinity` and max `-Infinity` (NULL in SQL).
 */
export interface Aggregate {
  count: number;
  temperatureCount: number;
  temperatureMin: number;
  temperatureMax: number;
  temperatureSum: number;
  pressureCount: number;
  pressureMin: number;
  pressureMax: number;
  pressureSum: number;
  humidityCount: number;
  humidityMin: number;
  humidityMax: number;
  humiditySum: number;
}

/** One sensor's part of a group: how many readings and their time span. */
export interface SensorDelta {
  readings: number;
  firstSeen: number;
  lastSeen: number;
}

/** One rollup row to add: width and bucket start in ms, the sensor, the aggregate. */
export interface RollupDelta {
  readonly width: number;
  readonly bucket: number;
  readonly sensorId: number;
  readonly aggregate: Aggregate;
}

/** Start of the bucket of `width` ms holding `timestamp`, aligned to the epoch (also below 0). */
export function bucketStart(timestamp: number, width: number): number {
  return timestamp - (((timestamp % width) + width) % width);
}

/** A new aggregate of one reading. */
export function aggregateOf(reading: Reading): Aggregate {
  const into: Aggregate = {
    count: 0,
    temperatureCount: 0,
    temperatureMin: Infinity,
    temperatureMax: -Infinity,
    temperatureSum: 0,
    pressureCount: 0,
    pressureMin: Infinity,
    pressureMax: -Infinity,
    pressureSum: 0,
    humidityCount: 0,
    humidityMin: Infinity,
    humidityMax: -Infinity,
    humiditySum: 0,
  };
  addReading(into, reading);
  return into;
}

/** Adds one reading to `into`; an absent quantity adds nothing to its own aggregate. */
export function addReading(into: Aggregate, reading: Reading): void {
  const { temperature: t, pressure: p, humidity: h } = reading;
  into.count++;
  if (t !== null) {
    into.temperatureCount++;
    if (t < into.temperatureMin) into.temperatureMin = t;
    if (t > into.temperatureMax) into.temperatureMax = t;
    into.temperatureSum += t;
  }
  if (p !== null) {
    into.pressureCount++;
    if (p < into.pressureMin) into.pressureMin = p;
    if (p > into.pressureMax) into.pressureMax = p;
    into.pressureSum += p;
  }
  if (h !== null) {
    into.humidityCount++;
    if (h < into.humidityMin) into.humidityMin = h;
    if (h > into.humidityMax) into.humidityMax = h;
    into.humiditySum += h;
  }
}

/** Adds aggregate `from` to `into`. */
export function mergeAggregate(into: Aggregate, from: Aggregate): void {
  into.count += from.count;
  into.temperatureCount += from.temperatureCount;
  into.temperatureMin = Math.min(into.temperatureMin, from.temperatureMin);
  into.temperatureMax = Math.max(into.temperatureMax, from.temperatureMax);
  into.temperatureSum += from.temperatureSum;
  into.pressureCount += from.pressureCount;
  into.pressureMin = Math.min(into.pressureMin, from.pressureMin);
  into.pressureMax = Math.max(into.pressureMax, from.pressureMax);
  into.pressureSum += from.pressureSum;
  into.humidityCount += from.humidityCount;
  into.humidityMin = Math.min(into.humidityMin, from.humidityMin);
  into.humidityMax = Math.max(into.humidityMax, from.humidityMax);
  into.humiditySum += from.humiditySum;
}

/**
 * Collects the summaries of the readings a transaction stores. Feed it with
 * {@linkcode Summary.add}; readings sorted by sensor then time make it cheap
 * (consecutive readings of one bucket skip the map), any order is correct.
 */
export class Summary {
  readonly sensors: Map<number, SensorDelta> = new Map();
  #finest: Map<string, RollupDelta> = new Map();
  #sensor: SensorDelta | undefined;
  #sensorId = -1;
  #current: RollupDelta | undefined;

  /** Adds one stored reading. */
  add(reading: Reading): void {
    const { sensorId, timestamp } = reading;
    let sensor = this.#sensor;
    if (sensorId !== this.#sensorId || sensor === undefined) {
      sensor = this.sensors.get(sensorId);
      if (sensor === undefined) {
        sensor = { readings: 0, firstSeen: timestamp, lastSeen: timestamp };
        this.sensors.set(sensorId, sensor);
      }
      this.#sensor = sensor;
      this.#sensorId = sensorId;
    }
    sensor.readings++;
    if (timestamp < sensor.firstSeen) sensor.firstSeen = timestamp;
    if (timestamp > sensor.lastSeen) sensor.lastSeen = timestamp;

    const width = ROLLUP_WIDTHS[0];
    const bucket = bucketStart(timestamp, width);
    const current = this.#current;
    if (current !== undefined && current.sensorId === sensorId && current.bucket === bucket) {
      addReading(current.aggregate, reading);
      return;
    }
    const key = `${bucket}:${sensorId}`;
    const found = this.#finest.get(key);
    if (found === undefined) {
      const delta = { width, bucket, sensorId, aggregate: aggregateOf(reading) };
      this.#finest.set(key, delta);
      this.#current = delta;
    } else {
      addReading(found.aggregate, reading);
      this.#current = found;
    }
  }

  /** True when nothing was added. */
  get empty(): boolean {
    return this.sensors.size === 0;
  }

  /** How many readings were added. */
  get readings(): number {
    let total = 0;
    for (const sensor of this.sensors.values()) total += sensor.readings;
    return total;
  }

  /** Adds everything `other` collected (a committed group into the pending summary). */
  absorb(other: Summary): void {
    for (const [sensorId, delta] of other.sensors) {
      const found = this.sensors.get(sensorId);
      if (found === undefined) this.sensors.set(sensorId, { ...delta });
      else {
        found.readings += delta.readings;
        found.firstSeen = Math.min(found.firstSeen, delta.firstSeen);
        found.lastSeen = Math.max(found.lastSeen, delta.lastSeen);
      }
    }
    for (const [key, delta] of other.#finest) {
      const found = this.#finest.get(key);
      if (found === undefined) {
        this.#finest.set(key, { ...delta, aggregate: { ...delta.aggregate } });
      } else mergeAggregate(found.aggregate, delta.aggregate);
    }
    this.#current = undefined;
    this.#sensor = undefined;
    this.#sensorId = -1;
  }

  /** The rollup rows to add at every width, coarser ones merged from the finest. */
  rollups(): RollupDelta[] {
    const result = [...this.#finest.values()];
    for (const width of ROLLUP_WIDTHS.slice(1)) {
      const level = new Map<string, RollupDelta>();
      for (const fine of this.#finest.values()) {
        const bucket = bucketStart(fine.bucket, width);
        const key = `${bucket}:${fine.sensorId}`;
        const found = level.get(key);
        if (found === undefined) {
          level.set(key, {
            width,
            bucket,
            sensorId: fine.sensorId,
            aggregate: { ...fine.aggregate },
          });
        } else {
          mergeAggregate(found.aggregate, fine.aggregate);
        }
      }
      for (const delta of level.values()) result.push(delta);
    }
    return result;
  }
}

/** A sensor's count and time span, as `/api/sensors` lists it (without its last reading). */
export interface SensorCount {
  readonly id: number;
  readings: number;
  firstSeen: number;
  lastSeen: number;
}

/**
 * The summarised sensors plus the tail (the same counts over the readings
 * stored after the summarised cursor), merged and sorted by id. Both
 * stores answer `/api/sensors` this way.
 */
export function mergeSensorCounts(
  summarized: readonly SensorCount[],
  tail: readonly SensorCount[],
): SensorCount[] {
  const byId = new Map<number, SensorCount>();
  for (const row of summarized) byId.set(row.id, { ...row });
  for (const row of tail) {
    const found = byId.get(row.id);
    if (found === undefined) byId.set(row.id, { ...row });
    else {
      found.readings += row.readings;
      found.firstSeen = Math.min(found.firstSeen, row.firstSeen);
      found.lastSeen = Math.max(found.lastSeen, row.lastSeen);
    }
  }
  return [...byId.values()].filter((row) => row.readings > 0).sort((a, b) => a.id - b.id);
}

/** One read of a series: raw readings, rollups of one width, or the unsummarised tail. */
export type SeriesPart =
  | { readonly kind: "raw"; readonly from: number; readonly to: number }
  | { readonly kind: "rollup"; readonly width: number; readonly from: number; readonly to: number }
  | { readonly kind: "tail"; readonly from: number; readonly to: number };

/**
 * The reads that answer a series over `segments` (series.ts plans them):
 * raw readings for width 0, the rollups of the segment's width otherwise,
 * and once, over the rolled-up span (the rollup segments are contiguous),
 * the readings stored after the summarised cursor. Both stores read
 * series this way.
 */
export function seriesParts(
  segments: readonly { width: number; from: number; to: number }[],
): SeriesPart[] {
  const parts: SeriesPart[] = [];
  let rolledFrom = Infinity;
  let rolledTo = -Infinity;
  for (const { width, from, to } of segments) {
    if (width === 0) {
      parts.push({ kind: "raw", from, to });
      continue;
    }
    parts.push({ kind: "rollup", width, from, to });
    rolledFrom = Math.min(rolledFrom, from);
    rolledTo = Math.max(rolledTo, to);
  }
  if (rolledFrom < rolledTo) parts.push({ kind: "tail", from: rolledFrom, to: rolledTo });
  return parts;
}
