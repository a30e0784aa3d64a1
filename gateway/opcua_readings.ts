/**
 * How OPC UA data changes become readings (docs/opcua.md), apart from the
 * stack that delivers them, so the rules can be read and tested alone:
 *
 * - the changes of one publish notification make at most one reading per
 *   sensor: changed quantities take their new values, the others their
 *   last known good value, a quantity never yet seen is `null`;
 * - its timestamp is the newest source timestamp among the changes, else
 *   the newest server timestamp, else the notification's publish time;
 * - a value whose status is not Good, or that is not a finite number whose
 *   scaled value fits a reading, makes no reading for its sensor until a
 *   good value arrives: counted, and logged once when it starts and once
 *   when it clears.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "../lib/log.ts";
 * import { OpcuaReadings } from "./opcua_readings.ts";
 * import { FaultReporter } from "./sources.ts";
 *
 * const readings = new OpcuaReadings(
 *   [{ id: 7, points: { temperature: { node: "ns=1;s=T", scale: 1, offset: 0 } } }],
 *   { faults: new FaultReporter(createLogger("test", { write: () => {} }), {}), onBadValue: () => {} },
 * );
 * const [handle] = readings.points.keys();
 * const made = readings.assemble([{ handle: handle!, value: 21.5, status: "Good", source: 1000 }], 2000);
 * assert.deepEqual(made, [
 *   { sensorId: 7, timestamp: 1000, temperature: 2150, pressure: null, humidity: null },
 * ]);
 * ```
 *
 * @module
 */

import { QUANTITIES, type Quantity, toHundredths } from "../protocol/mod.ts";
import type { OpcuaPoint, OpcuaSensor } from "./opcua_config.ts";
import type { FaultReporter, SourceReading } from "./sources.ts";

/** One monitored item's change, as the stack delivered it. */
export interface DataChange {
  /** The point's handle, a key of {@linkcode OpcuaReadings.points}. */
  readonly handle: number;
  /** The variant's value, whatever its type. */
  readonly value: unknown;
  /** The status code's name: `"Good"`, `"BadSensorFailure"`, … */
  readonly status: string;
  /** Source and server timestamps in Unix epoch ms, when the server gave them. */
  readonly source?: number | undefined;
  readonly server?: number | undefined;
}

/** One point of one sensor. */
export interface TrackedPoint {
  readonly sensor: number;
  readonly quantity: Quantity;
  readonly point: OpcuaPoint;
}

/** Options of {@linkcode OpcuaReadings}. */
export interface OpcuaReadingsOptions {
  /** Where unusable values are reported (key `value:<node>`). */
  readonly faults: FaultReporter;
  /** Called for each unusable value (for the `value` error counter). */
  readonly onBadValue: () => void;
}

interface SensorState {
  readonly id: number;
  readonly last: Record<Quantity, number | null>;
  /** Quantities whose latest value was not usable. */
  readonly bad: Set<Quantity>;
}

/** The per-sensor state of one server's readings; lives across reconnections. */
export class OpcuaReadings {
  /** Every point, by handle: the client handle to give its monitored item. */
  readonly points: ReadonlyMap<number, TrackedPoint>;
  readonly #sensors: SensorState[];
  readonly #options: OpcuaReadingsOptions;

  constructor(sensors: readonly OpcuaSensor[], options: OpcuaReadingsOptions) {
    this.#options = options;
    this.#sensors = sensors.map((sensor) => ({
      id: sensor.id,
      last: { temperature: null, pressure: null, humidity: null },
      bad: new Set(),
    }));
    const points = new Map<number, TrackedPoint>();
    sensors.forEach((sensor, index) => {
      for (const quantity of QUANTITIES) {
        const point = sensor.points[quantity];
        if (point) points.set(points.size + 1, { sensor: index, quantity, point });
      }
    });
    this.points = points;
  }

  /** The readings made by the changes of one notification published at `publishTime` (ms). */
  assemble(changes: readonly DataChange[], publishTime: number): SourceReading[] {
    const touched = new Map<SensorState, { good: number; source: number; server: number }>();
    for (const change of changes) {
      const tracked = this.points.get(change.handle);
      if (!tracked) continue;
      const sensor = this.#sensors[tracked.sensor]!;
      const entry = touched.get(sensor) ?? { good: 0, source: -Infinity, server: -Infinity };
      touched.set(sensor, entry);
      const value = this.#usable(sensor, tracked, change);
      if (value === undefined) continue;
      sensor.last[tracked.quantity] = value;
      entry.good++;
      entry.source = Math.max(entry.source, change.source ?? -Infinity);
      entry.server = Math.max(entry.server, change.server ?? -Infinity);
    }
    const readings: SourceReading[] = [];
    for (const [sensor, entry] of touched) {
      if (entry.good === 0 || sensor.bad.size > 0) continue;
      const timestamp = Number.isFinite(entry.source)
        ? entry.source
        : Number.isFinite(entry.server)
        ? entry.server
        : publishTime;
      readings.push({ sensorId: sensor.id, timestamp, ...sensor.last });
    }
    return readings;
  }

  /** The change's value in hundredths, or undefined (counted, reported) when unusable. */
  #usable(sensor: SensorState, tracked: TrackedPoint, change: DataChange): number | undefined {
    const { quantity, point } = tracked;
    const key = `value:${point.node}`;
    let problem: string | undefined;
    let hundredths: number | undefined;
    if (change.status !== "Good") {
      problem = `status ${change.status}`;
    } else if (typeof change.value !== "number" || !Number.isFinite(change.value)) {
      problem = `not a finite number (${JSON.stringify(String(change.value)).slice(0, 40)})`;
    } else {
      try {
        hundredths = toHundredths(change.value * point.scale + point.offset);
      } catch {
        problem = `${change.value} × ${point.scale} + ${point.offset} does not fit a reading`;
      }
    }
    if (hundredths === undefined) {
      this.#options.onBadValue();
      sensor.bad.add(quantity);
      this.#options.faults.fail(
        key,
        `node ${point.node} (sensor ${sensor.id} ${quantity}): value unusable, ${problem}`,
      );
      return undefined;
    }
    sensor.bad.delete(quantity);
    this.#options.faults.clear(key);
    return hundredths;
  }
}
