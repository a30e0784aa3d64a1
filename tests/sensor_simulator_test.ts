import assert from "node:assert/strict";
import { DEFAULT_THRESHOLDS } from "../lib/thresholds.ts";
import { createSimulator, type SimulatedValues } from "../sensor/simulator.ts";

function take(n: number, options: Parameters<typeof createSimulator>[0]): SimulatedValues[] {
  const simulator = createSimulator(options);
  return Array.from({ length: n }, () => simulator.next());
}

function outOfRange(values: SimulatedValues): boolean {
  return (Object.keys(DEFAULT_THRESHOLDS) as (keyof SimulatedValues)[]).some((quantity) => {
    const { min, max } = DEFAULT_THRESHOLDS[quantity];
    const value = values[quantity] / 100;
    return value < min || value > max;
  });
}

Deno.test("createSimulator() repeats the same values for the same seed and sensor", () => {
  assert.deepEqual(take(500, { sensorId: 3, seed: 42 }), take(500, { sensorId: 3, seed: 42 }));
  assert.notDeepEqual(take(5, { sensorId: 3, seed: 42 }), take(5, { sensorId: 4, seed: 42 }));
  assert.notDeepEqual(take(5, { sensorId: 3, seed: 42 }), take(5, { sensorId: 3, seed: 43 }));
});

Deno.test("createSimulator() stays near plant set points without excursions", () => {
  for (let sensorId = 1; sensorId <= 20; sensorId++) {
    for (const v of take(2_000, { sensorId, seed: 7, excursionRate: 0 })) {
      assert.ok(Number.isInteger(v.temperature) && Number.isInteger(v.humidity));
      assert.ok(v.temperature >= 1800 && v.temperature <= 2700, `temperature ${v.temperature}`);
      assert.ok(v.pressure >= 100_500 && v.pressure <= 102_100, `pressure ${v.pressure}`);
      assert.ok(v.humidity >= 3500 && v.humidity <= 6500, `humidity ${v.humidity}`);
    }
  }
});

Deno.test("createSimulator() moves: consecutive readings are not all equal", () => {
  const values = take(100, { sensorId: 1, seed: 1, excursionRate: 0 });
  assert.ok(new Set(values.map((v) => v.temperature)).size > 20);
});

Deno.test("createSimulator() produces rare out-of-range spikes and stuck values", () => {
  const values = take(10_000, { sensorId: 1, seed: 5, excursionRate: 0.02 });
  const out = values.filter(outOfRange).length;
  // ~200 excursions starting, some stuck for 5-20 readings: present but rare.
  assert.ok(out > 100 && out < 1_500, `${out} out-of-range readings`);
  let longestRun = 0;
  for (let i = 1, run = 1; i < values.length; i++) {
    run = values[i]!.temperature === values[i - 1]!.temperature ||
        values[i]!.pressure === values[i - 1]!.pressure ||
        values[i]!.humidity === values[i - 1]!.humidity
      ? run + 1
      : 1;
    if (outOfRange(values[i]!)) longestRun = Math.max(longestRun, run);
  }
  assert.ok(longestRun >= 5, "a stuck value repeats for several readings");
});
