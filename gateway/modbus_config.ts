/**
 * The `--modbus FILE` JSON file: the devices the gateway polls and, per
 * sensor, the register point of each quantity it measures. Every field is
 * checked at start; the first mistake stops the gateway with exit code 2
 * and one line naming the file, the field and the reason:
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseModbusConfig } from "./modbus_config.ts";
 *
 * const text = JSON.stringify({
 *   devices: [{
 *     name: "boiler-plc", host: "127.0.0.1",
 *     sensors: [{ id: 101, temperature: { table: "holding", address: 0, type: "float" } }],
 *   }],
 * });
 * assert.throws(() => parseModbusConfig("modbus.json", text), {
 *   message: 'modbus.json: devices[0].sensors[0].temperature.type: unknown type "float" ' +
 *     "(int16, uint16, int32, uint32, float32)",
 * });
 * ```
 *
 * See docs/modbus.md for the format.
 *
 * @module
 */

import { QUANTITIES, type Quantity } from "../protocol/mod.ts";
import {
  BYTE_ORDERS,
  type ByteOrder,
  REGISTER_TABLES,
  REGISTER_TYPE_NAMES,
  REGISTER_TYPES,
  type RegisterTable,
  type RegisterType,
} from "../modbus/mod.ts";
import {
  type ConfigObject,
  ConfigObject as Config,
  readDeviceName,
  readPoints,
  readScaling,
  readSensorId,
  readSourceFile,
} from "./source_config.ts";

/** Where one quantity of a sensor is read, and how it becomes a value. */
export interface ModbusPoint {
  readonly table: RegisterTable;
  readonly address: number;
  readonly type: RegisterType;
  readonly order: ByteOrder;
  readonly scale: number;
  readonly offset: number;
}

/** A sensor: its id and the points of the quantities it measures (at least one). */
export interface ModbusSensor {
  readonly id: number;
  readonly points: Readonly<Partial<Record<Quantity, ModbusPoint>>>;
}

/** One device the gateway polls. */
export interface ModbusDevice {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly unit: number;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly sensors: readonly ModbusSensor[];
}

/** The whole file. */
export interface ModbusConfig {
  /** The file's path as given, for messages. */
  readonly file: string;
  readonly devices: readonly ModbusDevice[];
}

const DEVICE_FIELDS = ["name", "host", "port", "unit", "interval", "timeout", "sensors"];
const SENSOR_FIELDS = ["id", ...QUANTITIES];
const POINT_FIELDS = ["table", "address", "type", "order", "scale", "offset"];

/** Reads and checks the file at `path`; throws a `SourceConfigError` (exit 2). */
export async function readModbusConfig(path: string): Promise<ModbusConfig> {
  return parseModbusConfig(path, await readSourceFile(path));
}

/** Checks `text`, the content of `file`; throws a `SourceConfigError` at the first mistake. */
export function parseModbusConfig(file: string, text: string): ModbusConfig {
  const root = Config.parse(file, text);
  root.allowOnly(["devices"]);
  const names = new Set<string>();
  const ids = new Set<number>();
  const devices = root.array("devices").map((device) => parseDevice(device, names, ids));
  return { file, devices };
}

function parseDevice(device: ConfigObject, names: Set<string>, ids: Set<number>): ModbusDevice {
  device.allowOnly(DEVICE_FIELDS);
  return {
    name: readDeviceName(device, names),
    host: device.string("host", { pattern: /^\S{1,253}$/ }),
    port: device.number("port", { min: 1, max: 65535, integer: true, fallback: 502 }),
    unit: device.number("unit", { min: 0, max: 255, integer: true, fallback: 1 }),
    intervalMs: 1000 * device.number("interval", { min: 0.01, max: 86_400, fallback: 1 }),
    timeoutMs: 1000 * device.number("timeout", { min: 0.01, max: 600, fallback: 1 }),
    sensors: device.array("sensors").map((sensor) => parseSensor(sensor, ids)),
  };
}

function parseSensor(sensor: ConfigObject, ids: Set<number>): ModbusSensor {
  sensor.allowOnly(SENSOR_FIELDS);
  return { id: readSensorId(sensor, ids), points: readPoints(sensor, parsePoint) };
}

function parsePoint(point: ConfigObject): ModbusPoint {
  point.allowOnly(POINT_FIELDS);
  const table = point.choice("table", REGISTER_TABLES);
  const address = point.number("address", { min: 0, max: 65535, integer: true });
  const type = point.choice("type", REGISTER_TYPE_NAMES);
  const width = REGISTER_TYPES[type];
  if (address + width > 65536) {
    point.fail("address", `a ${type} at ${address} would run past register 65535`);
  }
  if (width === 1 && point.has("order")) {
    point.fail("order", `applies to 32-bit types only, not to ${type}`);
  }
  const order = point.choice("order", BYTE_ORDERS, "ABCD");
  return { table, address, type, order, ...readScaling(point) };
}
