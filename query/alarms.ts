/**
 * The query client's alarm state machine: pure, no I/O, no clock of its own
 * (every call takes `nowMs`), so tests drive it with crafted readings.
 *
 * Per (sensor, quantity) a range alarm is `ok`, `high` or `low`:
 *
 * | state | reading value `v` (range `min`…`max`, deadband `d`) | next | event |
 * | --- | --- | --- | --- |
 * | ok | `v > max` / `v < min` | high / low | `alert` |
 * | high | `v < min` | low | `alert` |
 * | high | `min <= v <= max - d` | ok | `recovered` |
 * | low | `v > max` | high | `alert` |
 * | low | `min + d <= v <= max` | ok | `recovered` |
 *
 * Anything else keeps the state and says nothing: one line per state
 * change, never one per reading. The limits are inclusive (`v = max` is in
 * range) and compared in exact hundredths, the readings' own unit. A
 * quantity the reading does not carry (`null`: not measured) is not judged:
 * its state stays as it was, so absence neither raises nor clears an alarm.
 *
 * Per sensor a staleness alarm: a sensor that produced no new reading for
 * `staleMs` on the client's clock is `stale` (one `stale` event); its next
 * reading gives one `reporting` event. The client's clock rather than the
 * readings' timestamps, so a sensor whose clock is skewed cannot look silent.
 *
 * @module
 */

import { fromHundredths, QUANTITIES, type Quantity, type Reading } from "../protocol/mod.ts";
import { deadbandOf, type Thresholds } from "../lib/thresholds.ts";

/** A value left its safe range (or jumped to the other side of it). */
export interface AlertEvent {
  readonly type: "alert";
  readonly sensor: number;
  readonly quantity: Quantity;
  /** The reading's value, in the quantity's unit. */
  readonly value: number;
  readonly unit: string;
  /** Which limit the value crossed. */
  readonly limit: "min" | "max";
  /** That limit's value. */
  readonly threshold: number;
  /** The reading's timestamp, epoch ms. */
  readonly timestamp: number;
  readonly seq: number;
}

/** A value came back inside its range by at least the deadband. */
export interface RecoveredEvent {
  readonly type: "recovered";
  readonly sensor: number;
  readonly quantity: Quantity;
  readonly value: number;
  readonly unit: string;
  readonly min: number;
  readonly max: number;
  readonly timestamp: number;
  readonly seq: number;
}

/** A sensor produced no new reading for the stale time. */
export interface StaleEvent {
  readonly type: "stale";
  readonly sensor: number;
  /** How long it has been silent, in ms, on the client's clock. */
  readonly silentMs: number;
  /** When it was judged stale (the client's clock), epoch ms. */
  readonly timestamp: number;
}

/** A stale sensor produced a reading again. */
export interface ReportingEvent {
  readonly type: "reporting";
  readonly sensor: number;
  /** The new reading's timestamp, epoch ms. */
  readonly timestamp: number;
  readonly seq: number;
}

/** Everything the query client reports, discriminated by `type`. */
export type AlarmEvent = AlertEvent | RecoveredEvent | StaleEvent | ReportingEvent;

/** Options of {@linkcode AlarmTracker}. */
export interface AlarmTrackerOptions {
  /** Silence before a sensor is stale, in ms; 0 disables staleness. */
  readonly staleMs: number;
}

type RangeState = "ok" | "high" | "low";

interface SensorState {
  readonly ranges: Record<Quantity, RangeState>;
  /** Client clock when its last new reading arrived (or when it became known). */
  lastSeenMs: number;
  stale: boolean;
}

/** A quantity's limits in hundredths, computed once. */
interface Limits {
  readonly min: number;
  readonly max: number;
  /** Highest value that clears a `high` alarm. */
  readonly clearHigh: number;
  /** Lowest value that clears a `low` alarm. */
  readonly clearLow: number;
}

/** Tracks the alarm state of every sensor and quantity; see the module doc. */
export class AlarmTracker {
  readonly #thresholds: Thresholds;
  readonly #limits: Record<Quantity, Limits>;
  readonly #staleMs: number;
  readonly #sensors = new Map<number, SensorState>();

  constructor(thresholds: Thresholds, options: AlarmTrackerOptions) {
    this.#thresholds = thresholds;
    this.#staleMs = options.staleMs;
    this.#limits = Object.fromEntries(QUANTITIES.map((quantity) => {
      const range = thresholds[quantity];
      const [min, max] = [hundredths(range.min), hundredths(range.max)];
      const deadband = hundredths(deadbandOf(range));
      return [quantity, { min, max, clearHigh: max - deadband, clearLow: min + deadband }];
    })) as Record<Quantity, Limits>;
  }

  /** Starts the stale clock of a sensor known before it sent anything in this run. */
  track(sensor: number, nowMs: number): void {
    if (!this.#sensors.has(sensor)) this.#sensors.set(sensor, newSensor(nowMs));
  }

  /** Judges one reading; returns the state changes it causes (usually none). */
  observe(reading: Reading, nowMs: number): AlarmEvent[] {
    let state = this.#sensors.get(reading.sensorId);
    if (!state) {
      state = newSensor(nowMs);
      this.#sensors.set(reading.sensorId, state);
    }
    const events: AlarmEvent[] = [];
    state.lastSeenMs = nowMs;
    if (state.stale) {
      state.stale = false;
      events.push({
        type: "reporting",
        sensor: reading.sensorId,
        timestamp: reading.timestamp,
        seq: reading.seq,
      });
    }
    for (const quantity of QUANTITIES) {
      const value = reading[quantity];
      // Not measured: nothing to judge, and an alarm neither raised nor cleared.
      if (value === null) continue;
      const before = state.ranges[quantity];
      const after = nextState(before, value, this.#limits[quantity]);
      if (after === before) continue;
      state.ranges[quantity] = after;
      events.push(this.#rangeEvent(reading, quantity, value, after));
    }
    return events;
  }

  /** Reports every sensor that became stale by `nowMs`. */
  checkStale(nowMs: number): StaleEvent[] {
    if (this.#staleMs <= 0) return [];
    const events: StaleEvent[] = [];
    for (const [sensor, state] of this.#sensors) {
      const silentMs = nowMs - state.lastSeenMs;
      if (state.stale || silentMs < this.#staleMs) continue;
      state.stale = true;
      events.push({ type: "stale", sensor, silentMs, timestamp: nowMs });
    }
    return events;
  }

  /**
   * Restarts every sensor's stale clock at `nowMs`: after the client could
   * not see the server, silence says nothing about the sensors.
   */
  restartStaleClocks(nowMs: number): void {
    for (const state of this.#sensors.values()) {
      if (!state.stale) state.lastSeenMs = nowMs;
    }
  }

  /** How many alarms (range and stale) are active now. */
  activeCount(): number {
    let count = 0;
    for (const state of this.#sensors.values()) {
      if (state.stale) count++;
      for (const quantity of QUANTITIES) if (state.ranges[quantity] !== "ok") count++;
    }
    return count;
  }

  #rangeEvent(
    reading: Reading,
    quantity: Quantity,
    value: number,
    state: RangeState,
  ): AlarmEvent {
    const range = this.#thresholds[quantity];
    const common = {
      sensor: reading.sensorId,
      quantity,
      value: fromHundredths(value),
      unit: range.unit,
      timestamp: reading.timestamp,
      seq: reading.seq,
    };
    if (state === "ok") return { type: "recovered", ...common, min: range.min, max: range.max };
    const limit = state === "high" ? "max" : "min";
    return { type: "alert", ...common, limit, threshold: range[limit] };
  }
}

/**
 * The alarms of a single reading judged on its own (no history, so no
 * deadband): what `--once` reports for each sensor's latest reading.
 */
export function judgeReading(reading: Reading, thresholds: Thresholds): AlertEvent[] {
  const tracker = new AlarmTracker(thresholds, { staleMs: 0 });
  return tracker.observe(reading, 0).filter((event) => event.type === "alert");
}

function nextState(state: RangeState, value: number, limits: Limits): RangeState {
  if (value > limits.max) return "high";
  if (value < limits.min) return "low";
  if (state === "high" && value > limits.clearHigh) return "high";
  if (state === "low" && value < limits.clearLow) return "low";
  return "ok";
}

function newSensor(nowMs: number): SensorState {
  return {
    ranges: { temperature: "ok", pressure: "ok", humidity: "ok" },
    lastSeenMs: nowMs,
    stale: false,
  };
}

// Thresholds may be written with more decimals than the readings carry;
// the nearest hundredth is what a reading can be compared with exactly.
function hundredths(value: number): number {
  return Math.round(value * 100);
}
