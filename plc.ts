/**
 * `deno task plc`: a simulated PLC speaking Modbus TCP, for the demo, the
 * tests and the benchmark. It serves registers whose values drift like the
 * sensor simulator's (sensor/simulator.ts), laid out as modbus/layout.ts
 * describes, in both the holding and the input table; and it can misbehave
 * on purpose, as real devices do.
 *
 * Usage: deno task plc [flags]
 *
 *   --host HOST             listen address (default 127.0.0.1)
 *   --port PORT             listen port, 0 = any free port (default 5020)
 *   --unit N                unit id of the first device (default 1)
 *   --devices N             devices behind this address, units N, N+1, … (default 1)
 *   --sensors N             sensors per device (default 3)
 *   --first-id ID           sensor id of device 0's first sensor (default 1001)
 *   --type TYPE             int16, uint16, int32, uint32, float32 (default int16)
 *   --order ORDER           ABCD, CDAB, BADC, DCBA, for 32-bit types (default ABCD)
 *   --base ADDRESS          address of the first register (default 0)
 *   --rate HZ               new values per second (default 10)
 *   --seed N, --excursion-rate P   as for the sensor simulator
 *   --slow SECONDS          answer every request this late (default 0)
 *   --exception-every N     answer every Nth request "server device busy"
 *   --drop-every N          close the connection instead of every Nth answer
 *   --garbage-every N       answer every Nth request with bytes that are not Modbus
 *   --wrong-tid-every N     answer every Nth request with another transaction id
 *   --missing ADDRESS       this register does not exist (illegal data address); repeatable
 *   --print-config          print the gateway's --modbus file for this layout and exit
 *   --config-out FILE       once listening, write the gateway's --modbus file there
 *   --log-json, --debug, -h/--help
 *
 * A request for another unit gets "gateway target device failed to
 * respond". The first log line is `listening on HOST:PORT`.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 fatal error (port in use), 2 bad flags.
 *
 * @module
 */

import {
  type CommonConfig,
  commonConfig,
  parseFlags,
  parseNumber,
  parsePort,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { assertPermissions, netAccess, writeAccess } from "./lib/permissions.ts";
import { createSimulator, type Simulator } from "./sensor/simulator.ts";
import {
  BYTE_ORDERS,
  type ByteOrder,
  decodeRequest,
  REGISTER_TYPE_NAMES,
  type RegisterType,
} from "./modbus/mod.ts";
import { type Answer, answerRequest, type RawRequest } from "./modbus/answer.ts";
import { layoutConfig, layoutSize, type PlcLayout, storeSensorValues } from "./modbus/layout.ts";

/** Configuration of the simulated PLC. */
export interface PlcConfig extends CommonConfig {
  readonly host: string;
  readonly port: number;
  readonly unit: number;
  readonly devices: number;
  readonly layout: PlcLayout;
  readonly rate: number;
  readonly seed: number;
  readonly excursionRate: number;
  readonly slowMs: number;
  readonly exceptionEvery: number;
  readonly dropEvery: number;
  readonly garbageEvery: number;
  readonly wrongTidEvery: number;
  /** Registers that do not exist (illegal data address). */
  readonly missing: ReadonlySet<number>;
  readonly printConfig: boolean;
  readonly configOut: string | undefined;
}

const USAGE = `
Usage: deno task plc [flags]

Simulated PLC: serves drifting sensor values as Modbus TCP registers.

  --host HOST             listen address (default: 127.0.0.1)
  --port PORT             listen port, 0 = any free port (default: 5020)
  --unit N                unit id of the first device (default: 1)
  --devices N             devices (unit ids N, N+1, ...) (default: 1)
  --sensors N             sensors per device (default: 3)
  --first-id ID           sensor id of the first sensor (default: 1001)
  --type TYPE             int16, uint16, int32, uint32, float32 (default: int16)
  --order ORDER           ABCD, CDAB, BADC, DCBA for 32-bit types (default: ABCD)
  --base ADDRESS          first register address (default: 0)
  --rate HZ               new values per second (default: 10)
  --seed N                PRNG seed (default: 1)
  --excursion-rate P      chance per update of an out-of-range excursion (default: 0.02)
  --slow SECONDS          delay every answer (default: 0)
  --exception-every N     every Nth request: exception "server device busy" (default: off)
  --drop-every N          every Nth request: close the connection (default: off)
  --garbage-every N       every Nth request: answer bytes that are not Modbus (default: off)
  --wrong-tid-every N     every Nth request: answer another transaction id (default: off)
  --missing ADDRESS       a register that does not exist; repeatable
  --print-config          print the gateway's --modbus file for this layout, then exit
  --config-out FILE       once listening, write that file (with the bound port) to FILE
  --log-json              log one JSON object per line
  --debug                 log debug lines and stacks
  -h, --help              show this help
`;

/** Parses the PLC's flags. */
export function parseConfig(args: string[]): PlcConfig {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "5020" },
    unit: { type: "string", default: "1" },
    devices: { type: "string", default: "1" },
    sensors: { type: "string", default: "3" },
    "first-id": { type: "string", default: "1001" },
    type: { type: "string", default: "int16" },
    order: { type: "string", default: "ABCD" },
    base: { type: "string", default: "0" },
    rate: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    "excursion-rate": { type: "string", default: "0.02" },
    slow: { type: "string", default: "0" },
    "exception-every": { type: "string", default: "0" },
    "drop-every": { type: "string", default: "0" },
    "garbage-every": { type: "string", default: "0" },
    "wrong-tid-every": { type: "string", default: "0" },
    missing: { type: "string", multiple: true, default: [] },
    "print-config": { type: "boolean", default: false },
    "config-out": { type: "string" },
  });
  const integer = (flag: string, min: number, max: number) =>
    parseNumber(flag, values[flag as "unit"], { min, max, integer: true });
  const type = values.type as RegisterType;
  if (!REGISTER_TYPE_NAMES.includes(type)) {
    throw new UsageError(
      `Cannot parse --type: expected ${REGISTER_TYPE_NAMES.join(", ")}, got "${values.type}"`,
    );
  }
  const order = values.order as ByteOrder;
  if (!BYTE_ORDERS.includes(order)) {
    throw new UsageError(
      `Cannot parse --order: expected ${BYTE_ORDERS.join(", ")}, got "${values.order}"`,
    );
  }
  const devices = integer("devices", 1, 256);
  const unit = integer("unit", 0, 256 - devices);
  const sensors = integer("sensors", 1, 10_000);
  const layout: PlcLayout = {
    sensors,
    firstId: integer("first-id", 1, 0xffff_ffff - devices * sensors),
    type,
    order,
    base: integer("base", 0, 65535),
  };
  if (layoutSize(layout) > 65536) {
    throw new UsageError(`Cannot lay out ${sensors} ${type} sensors from register ${layout.base}`);
  }
  return {
    ...commonConfig(values),
    host: values.host,
    port: parsePort("port", values.port),
    unit,
    devices,
    layout,
    rate: parseNumber("rate", values.rate, { min: 0.01, max: 1000 }),
    seed: integer("seed", 0, 0xffff_ffff),
    excursionRate: parseNumber("excursion-rate", values["excursion-rate"], { min: 0, max: 1 }),
    slowMs: 1000 * parseNumber("slow", values.slow, { min: 0, max: 3600 }),
    exceptionEvery: integer("exception-every", 0, 1e9),
    dropEvery: integer("drop-every", 0, 1e9),
    garbageEvery: integer("garbage-every", 0, 1e9),
    wrongTidEvery: integer("wrong-tid-every", 0, 1e9),
    missing: new Set(values.missing.map((value) => parsePort("missing", value))),
    printConfig: values["print-config"],
    configOut: values["config-out"],
  };
}

/** One device's registers and the simulators writing them. */
interface Device {
  readonly registers: Uint16Array;
  readonly simulators: Simulator[];
}

/** Serves until `signal` aborts. */
export async function run(config: PlcConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const gatewayFile = (port: number) =>
    JSON.stringify(
      layoutConfig(config.layout, {
        host: config.host,
        port,
        devices: config.devices,
        firstUnit: config.unit,
        interval: 1,
        timeout: 1,
      }),
      null,
      2,
    ) + "\n";
  if (config.printConfig) {
    await Deno.stdout.write(new TextEncoder().encode(gatewayFile(config.port)));
    return;
  }
  assertPermissions("plc", [
    netAccess("port", config.host, config.port),
    ...(config.configOut === undefined ? [] : [writeAccess("config-out", config.configOut)]),
  ]);
  const { layout } = config;
  const devices: Device[] = Array.from({ length: config.devices }, (_, d) => ({
    registers: new Uint16Array(layoutSize(layout)),
    simulators: Array.from({ length: layout.sensors }, (_, i) =>
      createSimulator({
        sensorId: layout.firstId + d * layout.sensors + i,
        seed: config.seed,
        excursionRate: config.excursionRate,
      })),
  }));
  const update = () => {
    for (const device of devices) {
      device.simulators.forEach((simulator, i) =>
        storeSensorValues(device.registers, layout, i, simulator.next())
      );
    }
  };
  update();
  const ticker = setInterval(update, 1000 / config.rate);
  const listener = Deno.listen({ hostname: config.host, port: config.port });
  const address = listener.addr;
  if (config.configOut !== undefined) {
    await Deno.writeTextFile(config.configOut, gatewayFile(address.port));
  }
  log.info(`listening on ${address.hostname}:${address.port}`, {
    devices: config.devices,
    sensors: layout.sensors,
    type: layout.type,
  });
  const conns = new Set<Deno.TcpConn>();
  signal.addEventListener("abort", () => {
    listener.close();
    for (const conn of conns) conn.close();
  }, { once: true });
  let requests = 0;
  const serving: Promise<void>[] = [];
  const served = { firstUnit: config.unit, registers: devices.map((device) => device.registers) };
  const answer = (request: RawRequest) => answerRequest(request, served, config, ++requests);
  try {
    for await (const conn of listener) {
      conns.add(conn);
      serving.push(
        serveConnection(conn, answer, config.slowMs, log).finally(() => conns.delete(conn)),
      );
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  } finally {
    clearInterval(ticker);
    await Promise.allSettled(serving);
  }
  log.info("stopped", { requests });
}

async function serveConnection(
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

/** The program, as `runMain` runs it. */
export const plcProgram: Program<PlcConfig> = {
  name: "plc",
  usage: USAGE,
  parseConfig,
  run,
};

if (import.meta.main) await runMain(plcProgram);
