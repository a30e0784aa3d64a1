/**
 * The Modbus TCP source: every device of the `--modbus` file polled by its
 * own {@linkcode DevicePoller} (gateway/modbus_poller.ts), concurrently with
 * the others, into the sink; and the `vigia_modbus_*` metrics they share.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import type { ModbusConfig } from "./modbus_config.ts";
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
