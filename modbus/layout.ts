/**
 * The register layout the simulated PLC (`plc.ts`) serves, and the
 * gateway's `--modbus` file that reads it, from the same few numbers: so
 * the demo, the tests and the benchmark never write either by hand.
 *
 * Device `d` of a PLC process answers as unit `firstUnit + d`. Its sensor
 * `i` has id `firstId + d × sensors + i`; its quantities (temperature,
 * pressure, humidity) sit one after another from register
 * `base + 3 × i × width`, where `width` is the type's register count. Both
 * tables (holding and input) hold the same values. How a value is stored
 * per type:
 *
 * | type      | raw value                     | so `scale`, `offset` |
 * | --------- | ----------------------------- | -------------------- |
 * | `int16`   | value × 10                    | 0.1, 0               |
 * | `uint16`  | (value + 100) × 10            | 0.1, −100            |
 * | `int32`   | value × 100                   | 0.01, 0              |
 * | `uint32`  | (value + 1000) × 100          | 0.01, −1000          |
 * | `float32` | value                         | 1, 0                 |
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointAddress } from "./layout.ts";
 *
 * const layout = { sensors: 2, firstId: 100, type: "float32", order: "CDAB", base: 0 } as const;
 * assert.equal(pointAddress(layout, 1, 2), 10); // sensor 1's humidity
 * ```
 *
 * @module
 */

import { QUANTITIES, type Quantity } from "../protocol/mod.ts";
import type { RegisterTable } from "./mbap.ts";
import { type ByteOrder, encodeValue, REGISTER_TYPES, type RegisterType } from "./registers.ts";

/** What one PLC device serves. */
export interface PlcLayout {
  /** Sensors per device. */
  readonly sensors: number;
  /** Id of device 0's first sensor. */
  readonly firstId: number;
  readonly type: RegisterType;
  readonly order: ByteOrder;
  /** Address of the first sensor's temperature. */
  readonly base: number;
}

/** How each type stores a value: raw = (value − offset) / scale. */
export const LAYOUT_SCALING: Readonly<Record<RegisterType, { scale: number; offset: number }>> = {
  int16: { scale: 0.1, offset: 0 },
  uint16: { scale: 0.1, offset: -100 },
  int32: { scale: 0.01, offset: 0 },
  uint32: { scale: 0.01, offset: -1000 },
  float32: { scale: 1, offset: 0 },
};

/** The address of quantity `q` (0..2) of sensor `i`. */
export function pointAddress(layout: PlcLayout, i: number, q: number): number {
  return layout.base + (3 * i + q) * REGISTER_TYPES[layout.type];
}

/** Registers one device serves: everything past them is an illegal data address. */
export function layoutSize(layout: PlcLayout): number {
  return pointAddress(layout, layout.sensors, 0);
}

/** Writes sensor `i`'s values (integer hundredths) into `registers`. */
export function storeSensorValues(
  registers: Uint16Array,
  layout: PlcLayout,
  i: number,
  values: Readonly<Record<Quantity, number>>,
): void {
  const { scale, offset } = LAYOUT_SCALING[layout.type];
  QUANTITIES.forEach((quantity, q) => {
    const raw = (values[quantity] / 100 - offset) / scale;
    const rounded = layout.type === "float32" ? raw : Math.round(raw);
    registers.set(encodeValue(rounded, layout.type, layout.order), pointAddress(layout, i, q));
  });
}

/** Where the gateway finds the devices of a PLC process. */
export interface PlcEndpoint {
  readonly host: string;
  readonly port: number;
  /** Devices in the process: units `firstUnit` … `firstUnit + devices − 1`. */
  readonly devices: number;
  readonly firstUnit: number;
  /** Poll interval and timeout, seconds. */
  readonly interval: number;
  readonly timeout: number;
  readonly table?: RegisterTable;
  /** Device names are `<prefix><d>` (default `plc-`). */
  readonly namePrefix?: string;
}

/** The `--modbus` file (as a JSON value) reading every sensor a PLC process serves. */
export function layoutConfig(layout: PlcLayout, endpoint: PlcEndpoint): { devices: unknown[] } {
  const { scale, offset } = LAYOUT_SCALING[layout.type];
  const point = (i: number, q: number) => ({
    table: endpoint.table ?? "holding",
    address: pointAddress(layout, i, q),
    type: layout.type,
    ...(REGISTER_TYPES[layout.type] === 2 ? { order: layout.order } : {}),
    scale,
    offset,
  });
  return {
    devices: Array.from({ length: endpoint.devices }, (_, d) => ({
      name: `${endpoint.namePrefix ?? "plc-"}${d}`,
      host: endpoint.host,
      port: endpoint.port,
      unit: endpoint.firstUnit + d,
      interval: endpoint.interval,
      timeout: endpoint.timeout,
      sensors: Array.from({ length: layout.sensors }, (_, i) => ({
        id: layout.firstId + d * layout.sensors + i,
        ...Object.fromEntries(QUANTITIES.map((quantity, q) => [quantity, point(i, q)])),
      })),
    })),
  };
}
