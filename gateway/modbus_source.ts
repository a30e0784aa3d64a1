/**
 * The Modbus TCP source: every device of the `--modbus` file polled by its
 * own {@linkcode DevicePoller} (gateway/modbus_poller.ts), concurrently with
 * the others, into the sink; and the `vigia_modbus_*` metrics they share.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import type { ModbusConfig } from "./modbus_config.ts";
import { DevicePoller, MODBUS_METRICS, type ModbusMetrics } from "./modbus_poller.ts";
import { type DeviceSource, LabelledMetrics } from "./sources.ts";

/** Options of {@linkcode createModbusSource}. */
export interface ModbusSourceOptions {
  readonly log: Logger;
}

/** The source polling every device of `config`. */
export function createModbusSource(
  config: ModbusConfig,
  options: ModbusSourceOptions,
): DeviceSource {
  const metrics: ModbusMetrics = new LabelledMetrics("vigia_modbus_", MODBUS_METRICS);
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
    toPrometheus: () => metrics.toPrometheus(),
  };
}
