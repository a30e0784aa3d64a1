/**
 * Plausible plant values for one simulated sensor: each quantity wanders
 * slowly around its own set point (a mean-reverting random walk: about
 * 20–25 °C, 1013 hPa ± 5, 40–60 % RH) with measurement noise on top, and now
 * and then an excursion out of the safe range so the alerting has something
 * to find: a one-reading spike, or a value stuck for a while as a failing
 * probe does.
 *
 * Everything comes from a seeded PRNG (mulberry32) and nothing else — not
 * the clock — so the same `(seed, sensorId)` yields the same values in the
 * same order, and a test can regenerate exactly what a sensor process sent.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSimulator } from "./simulator.ts";
 *
 * const a = createSimulator({ sensorId: 7, seed: 1 });
 * const b = createSimulator({ sensorId: 7, seed: 1 });
 * assert.deepEqual(a.next(), b.next());
 * ```
 *
 * @module
 */

import { toHundredths } from "../protocol/mod.ts";
import { seededRandom } from "../lib/random.ts";

/** One reading's values, in integer hundredths as on the wire. */
export interface SimulatedValues {
  readonly temperature: number;
  readonly pressure: number;
  readonly humidity: number;
}

/** Options of {@linkcode createSimulator}. */
export interface SimulatorOptions {
  readonly sensorId: number;
  readonly seed: number;
  /** Chance per reading that an excursion starts (default 0.02). */
  readonly excursionRate?: number;
}

/** A sensor's value stream. */
export interface Simulator {
  /** The values of the next reading. */
  next(): SimulatedValues;
}

/** How each quantity behaves, in its API unit. */
const QUANTITY_MODELS = {
  temperature: {
    setPoint: [20, 25],
    drift: 0.02,
    noise: 0.05,
    spikes: [[90, 120], [-60, -45]],
    stuck: [[85.5, 99], [-50, -40.5]],
  },
  pressure: {
    setPoint: [1008, 1018],
    drift: 0.05,
    noise: 0.1,
    spikes: [[1210, 1300], [600, 790]],
    stuck: [[0, 0], [1200.5, 1250]],
  },
  humidity: {
    setPoint: [40, 60],
    drift: 0.05,
    noise: 0.2,
    spikes: [[100.5, 110], [-5, -0.5]],
    stuck: [[100.5, 104], [-2, -0.5]],
  },
} as const;

type QuantityName = keyof typeof QUANTITY_MODELS;
const NAMES = Object.keys(QUANTITY_MODELS) as QuantityName[];

/** Pull back towards the set point per reading: a time constant of ~100 readings. */
const REVERSION = 0.01;
const STUCK_READINGS: readonly [number, number] = [5, 20];

/** Creates the value stream of one sensor. */
export function createSimulator(options: SimulatorOptions): Simulator {
  const random = seededRandom((options.seed ^ Math.imul(options.sensorId + 1, 0x9e3779b1)) >>> 0);
  const excursionRate = options.excursionRate ?? 0.02;
  // Box–Muller gives two independent normals per pair of uniforms: the sine
  // one is kept for the next call (the simulator is a load generator's hot
  // loop, six normals per reading). 1 - u keeps the logarithm finite.
  let spare: number | undefined;
  const gaussian = () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
  const between = ([low, high]: readonly [number, number]) => low + random() * (high - low);
  const state = NAMES.map((name) => {
    const setPoint = between(QUANTITY_MODELS[name].setPoint);
    return { name, setPoint, value: setPoint, stuckValue: 0, stuckLeft: 0 };
  });

  return {
    next() {
      let spike: QuantityName | undefined;
      let spikeValue = 0;
      if (random() < excursionRate) {
        const target = state[Math.floor(random() * state.length)]!;
        const model = QUANTITY_MODELS[target.name];
        const side = random() < 0.5 ? 0 : 1;
        if (random() < 0.6) {
          spike = target.name;
          spikeValue = between(model.spikes[side]);
        } else {
          target.stuckValue = between(model.stuck[side]);
          target.stuckLeft = Math.round(between(STUCK_READINGS));
        }
      }
      const values = { temperature: 0, pressure: 0, humidity: 0 };
      for (const quantity of state) {
        const model = QUANTITY_MODELS[quantity.name];
        quantity.value += (quantity.setPoint - quantity.value) * REVERSION +
          gaussian() * model.drift;
        let measured = quantity.value + gaussian() * model.noise;
        if (quantity.stuckLeft > 0) {
          quantity.stuckLeft--;
          measured = quantity.stuckValue;
        } else if (spike === quantity.name) {
          measured = spikeValue;
        }
        values[quantity.name] = toHundredths(measured);
      }
      return values;
    },
  };
}
