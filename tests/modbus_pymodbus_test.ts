/**
 * Interoperability with a Modbus stack nobody here wrote: Debian's
 * pymodbus 3.0 serves values its own payload builder encoded (every type,
 * 32-bit values in all four byte orders, holding and input tables, gaps
 * between points, an address the device does not have, a NaN and a value
 * too large to store), and the gateway's
 * Modbus source (config, planner, client, decoding) turns them into
 * readings in a real spool.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createLogger } from "../lib/log.ts";
import { Committer } from "../gateway/committer.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { parseModbusConfig } from "../gateway/modbus_config.ts";
import { createModbusSource } from "../gateway/modbus_source.ts";
import { ReadingSink } from "../gateway/sources.ts";
import { openSpool } from "../gateway/spool.ts";
import type { Reading } from "../protocol/mod.ts";
import { BYTE_ORDERS } from "../modbus/mod.ts";
import { waitUntil } from "./_link.ts";
import { type PymodbusPoint, startPymodbus } from "./_modbus.ts";
import { decodeReadingRecords } from "../protocol/mod.ts";

type Point = PymodbusPoint & { scale?: number; offset?: number };
interface Sensor {
  id: number;
  points: Partial<Record<"temperature" | "pressure" | "humidity", Point>>;
  /** Hundredths (null: not measured), or undefined when no reading may come. */
  expected?: [number | null, number | null, number | null];
}

const SENSORS: Sensor[] = [
  {
    // holding 0, 1, 3: one read through the gap at 2
    id: 1,
    points: {
      temperature: { table: "holding", address: 0, type: "int16", value: -200, scale: 0.1 },
      pressure: {
        table: "holding",
        address: 1,
        type: "uint16",
        value: 60000,
        scale: 0.1,
        offset: -5000,
      },
      humidity: { table: "holding", address: 3, type: "int32", value: 4550, scale: 0.01 },
    },
    expected: [-2000, 100000, 4550],
  },
  {
    // pressure only: temperature and humidity are stored as null (not measured)
    id: 2,
    points: {
      pressure: { table: "holding", address: 20, type: "int16", value: 10132, scale: 0.1 },
    },
    expected: [null, 101320, null],
  },
  ...BYTE_ORDERS.map((order, i): Sensor => ({
    id: 10 + i,
    points: {
      temperature: { table: "input", address: 6 * i, type: "float32", order, value: 21.5 },
      pressure: {
        table: "input",
        address: 6 * i + 2,
        type: "uint32",
        order,
        value: 101325,
        scale: 0.01,
      },
      humidity: {
        table: "input",
        address: 6 * i + 4,
        type: "int32",
        order,
        value: -123,
        scale: 0.1,
        offset: 50,
      },
    },
    expected: [2150, 101325, 3770],
  })),
  {
    // holding 30, 35: a gap of 4, read through; -0.25 as a float32 in holding
    id: 20,
    points: {
      temperature: { table: "holding", address: 30, type: "float32", order: "DCBA", value: -0.25 },
      pressure: { table: "holding", address: 35, type: "uint16", value: 10132, scale: 0.1 },
      humidity: {
        table: "holding",
        address: 36,
        type: "int16",
        value: 3333,
        scale: 0.01,
        offset: 10,
      },
    },
    expected: [-25, 101320, 4333],
  },
  {
    // humidity at 45, past the device's 40 registers: an exception for this
    // sensor only, though the planner merged it with sensor 20's read
    id: 21,
    points: {
      temperature: { table: "holding", address: 38, type: "int16", value: 1 },
      pressure: { table: "holding", address: 39, type: "int16", value: 2 },
      humidity: { table: "holding", address: 45, type: "int16", value: 3 },
    },
  },
  {
    // values the pipeline cannot store: a NaN float32, and 2^31 - 1 hundred times over
    id: 22,
    points: {
      temperature: { table: "input", address: 30, type: "float32", value: "nan" },
      pressure: { table: "input", address: 32, type: "int32", value: 2147483647 },
      humidity: { table: "input", address: 34, type: "int16", value: 1 },
    },
  },
];

Deno.test("the Modbus source reads pymodbus's values: every type and order, both tables, gaps, a missing address, unstorable values", async () => {
  await using device = await startPymodbus({
    size: 40,
    unit: 7,
    points: SENSORS.flatMap((sensor) => Object.values(sensor.points))
      .filter((point) => point.address < 40),
  });
  const file = {
    devices: [{
      name: "pymodbus",
      host: "127.0.0.1",
      port: device.port,
      unit: 7,
      interval: 0.05,
      sensors: SENSORS.map((sensor) => ({
        id: sensor.id,
        ...Object.fromEntries(
          Object.entries(sensor.points).map((
            [quantity, { value: _, ...point }],
          ) => [quantity, point]),
        ),
      })),
    }],
  };
  const lines: string[] = [];
  const log = createLogger("gateway", { write: (line) => lines.push(line) });
  const spool = openSpool(":memory:", { maxReadings: 100_000 });
  const committer = new Committer(spool, { flushMs: 10, metrics: new GatewayMetrics(), log });
  const source = createModbusSource(parseModbusConfig("modbus.json", JSON.stringify(file)), {
    log,
  });
  source.start(new ReadingSink(committer, { lastSeqs: new Map(), log }));
  let readings: Reading[] = [];
  try {
    await waitUntil(
      () => {
        readings = spool.take("oldest", 100_000).flatMap((batch) =>
          decodeReadingRecords(batch.payload)
        );
        return SENSORS.every((sensor) =>
          sensor.expected === undefined ||
          readings.filter((r) => r.sensorId === sensor.id).length >= 3
        );
      },
      20_000,
      "three readings of every readable sensor",
    );
  } finally {
    await source.stop();
    committer.flush();
    spool.close();
  }
  for (const sensor of SENSORS) {
    const values = readings.filter((r) => r.sensorId === sensor.id)
      .map((r) => [r.temperature, r.pressure, r.humidity]);
    if (sensor.expected === undefined) {
      assert.deepEqual(values, [], `sensor ${sensor.id}`);
      continue;
    }
    for (const value of values) assert.deepEqual(value, sensor.expected, `sensor ${sensor.id}`);
  }
  const exceptions = lines.filter((line) => /exception/.test(line));
  assert.equal(exceptions.length, 1, lines.join("\n"));
  assert.match(
    exceptions[0]!,
    /WARN exception response: illegal data address device=pymodbus table=holding address=45 /,
  );
  assert.equal(
    lines.filter((line) =>
      /WARN cannot store value NaN: .* sensor=22 quantity=temperature /.test(line)
    ).length,
    1,
  );
  assert.equal(
    lines.filter((line) =>
      /WARN cannot store value 2147483647: .* sensor=22 quantity=pressure /.test(line)
    ).length,
    1,
  );
  const text = source.metrics.render();
  assert.match(text, /vigia_modbus_errors_total\{device="pymodbus",kind="value"\} [2-9]/);
  assert.match(text, /vigia_modbus_errors_total\{device="pymodbus",kind="exception"\} [1-9]/);
  assert.match(text, /vigia_modbus_device_up\{device="pymodbus"\} 1/);
});
