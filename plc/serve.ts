/**
 * The simulated PLC's moving parts (plc.ts wires them to its flags): the
 * registers of its devices, rewritten from the sensor simulator at every
 * update, and one Modbus TCP connection served request by request.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { decodeRequest } from "../modbus/mod.ts";
import type { Answer, RawRequest } from "../modbus/answer.ts";
import { layoutSize, type PlcLayout, storeSensorValues } from "../modbus/layout.ts";
import { createSimulator, type Simulator } from "../sensor/simulator.ts";

/** What the simulated values depend on besides the layout. */
export interface SimulationOptions {
  /** The number of devices (unit ids). */
  readonly devices: number;
  readonly seed: number;
  readonly excursionRate: number;
}

/**
 * The registers of every device, one array per device, laid out as
 * `layout` says, with drifting values from one simulator per sensor.
 */
export class SimulatedDevices {
  /** Device `d`'s registers, in both tables. */
  readonly registers: readonly Uint16Array[];
  readonly #layout: PlcLayout;
  readonly #simulators: readonly (readonly Simulator[])[];

  /** Creates the devices and stores their first values. */
  constructor(layout: PlcLayout, options: SimulationOptions) {
    this.#layout = layout;
    this.registers = Array.from(
      { length: options.devices },
      () => new Uint16Array(layoutSize(layout)),
    );
    this.#simulators = this.registers.map((_, d) =>
      Array.from({ length: layout.sensors }, (_, i) =>
        createSimulator({
          sensorId: layout.firstId + d * layout.sensors + i,
          seed: options.seed,
          excursionRate: options.excursionRate,
        }))
    );
    this.update();
  }

  /** Stores every sensor's next values. */
  update(): void {
    this.#simulators.forEach((simulators, d) =>
      simulators.forEach((simulator, i) =>
        storeSensorValues(this.registers[d]!, this.#layout, i, simulator.next())
      )
    );
  }
}

/**
 * Answers the Modbus TCP requests of one connection with `answer`, each
 * after `slowMs`, until the peer closes it or `answer` drops it.
 */
export async function serveConnection(
  conn: Deno.TcpConn,
  answer: (request: RawRequest) => Answer,
  slowMs: number,
  log: Logger,
): Promise<void> {
  const buffer = new Uint8Array(4096);
  let length = 0;
  try {
    for (;;) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) return;
      length += n;
      let offset = 0;
      for (;;) {
        const decoded = decodeRequest(buffer.subarray(0, length), offset);
        if (decoded === undefined) break;
        offset += decoded.byteLength;
        const reply = answer(decoded.request);
        if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs));
        if (reply === "drop") return;
        let written = 0;
        while (written < reply.length) written += await conn.write(reply.subarray(written));
      }
      buffer.copyWithin(0, offset, length);
      length -= offset;
      if (length === buffer.length) return; // no request is this long
    }
  } catch (error) {
    log.debug("connection ended", {
      reason: error instanceof Error ? error.message : String(error),
    });
  } finally {
    try {
      conn.close();
    } catch { /* closed at shutdown */ }
  }
}
