/**
 * The Modbus TCP source: every device of the `--modbus` file polled by its
 * own {@linkcode DevicePoller} (gateway/modbus_poller.ts), concurrently with
 * the others, into the sink; and the `vigia_modbus_*` metrics they share.
 *
 * {@linkcode modbusAccess} names what the `--modbus` file needs (the
 * launcher grants exactly that); {@linkcode loadModbusSource} reads and
 * checks the file and creates the source.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { netAccess, type PermissionNeed, readAccess } from "../lib/permissions.ts";
import { type ModbusConfig, parseModbusConfig, readModbusConfig } from "./modbus_config.ts";
import { ModbusMetrics } from "./modbus_metrics.ts";
import { DevicePoller } from "./modbus_poller.ts";
import type { DeviceSource } from "./sources.ts";

/** Options of {@linkcode createModbusSource}. */
export interface ModbusSourceOptions {
  readonly log: Logger;
}

/** The source polling every device of `config`. */
export function createModbusSource(
  config: ModbusConfig,
  options: ModbusSourceOptions,
): DeviceSource {
  const metrics = new ModbusMetrics();
  const sensorIds = new Set(config.devices.flatMap((device) => device.sensors.map((s) => s.id)));
  let pollers: DevicePoller[] = [];
  return {
    kind: "modbus",
    sensorIds,
    start(sink) {
      pollers = config.devices.map((device) =>
        new DevicePoller(device, { sink, metrics, log: options.log })
      );
      for (const poller of pollers) poller.start();
    },
    async stop() {
      await Promise.all(pollers.map((poller) => poller.stop()));
    },
    metrics: metrics.registry,
  };
}

/**
 * The `--modbus` file and the devices it names. An unreadable or invalid
 * file grants only itself: the gateway then reports it at start.
 */
export function modbusAccess(file: string): PermissionNeed[] {
  try {
    const modbus = parseModbusConfig(file, Deno.readTextFileSync(file));
    return [
      readAccess("modbus", file),
      ...modbus.devices.map((device) => netAccess("modbus", device.host, device.port)),
    ];
  } catch {
    return [readAccess("modbus", file)];
  }
}

/**
 * The Modbus source of the file at `path`, read and checked (a bad file
 * throws a `UsageError`: exit 2).
 */
export async function loadModbusSource(path: string, log: Logger): Promise<DeviceSource> {
  // Its devices were granted (and checked) from the same file: modbusAccess().
  const modbus = await readModbusConfig(path);
  log.info(`modbus: polling ${modbus.devices.length} devices`, {
    file: path,
    sensors: modbus.devices.reduce((sum, device) => sum + device.sensors.length, 0),
  });
  return createModbusSource(modbus, { log });
}
