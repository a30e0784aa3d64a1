/**
 * `deno task plc`: a simulated PLC speaking Modbus TCP, for the demo, the
 * tests and the benchmark. It serves registers whose values drift like the
 * sensor simulator's (sensor/simulator.ts), laid out as modbus/layout.ts
 * describes, in both the holding and the input table; and it can misbehave
 * on purpose, as real devices do.
 *
 * Flags: `deno task plc --help` (the table is {@linkcode FLAGS}).
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
  parseNumber,
  parsePort,
  parseTable,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { type Flag, usage } from "./lib/flags.ts";
import { netAccess, type PermissionNeed, writeAccess } from "./lib/permissions.ts";
import {
  BYTE_ORDERS,
  type ByteOrder,
  REGISTER_TYPE_NAMES,
  type RegisterType,
} from "./modbus/mod.ts";
import { answerRequest, type RawRequest } from "./modbus/answer.ts";
import { layoutConfig, layoutSize, type PlcLayout } from "./modbus/layout.ts";
import { serveConnection, SimulatedDevices } from "./plc/serve.ts";

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

/** The flags of `deno task plc`. */
export const FLAGS: readonly Flag[] = [
  { name: "host", value: "HOST", default: "127.0.0.1", help: "listen address" },
  { name: "port", value: "PORT", default: "5020", help: "listen port, 0 = any free port" },
  { name: "unit", value: "N", default: "1", help: "unit id of the first device" },
  { name: "devices", value: "N", default: "1", help: "devices (unit ids N, N+1, ...)" },
  { name: "sensors", value: "N", default: "3", help: "sensors per device" },
  { name: "first-id", value: "ID", default: "1001", help: "sensor id of the first sensor" },
  { name: "type", value: "TYPE", default: "int16", help: "int16, uint16, int32, uint32, float32" },
  {
    name: "order",
    value: "ORDER",
    default: "ABCD",
    help: "ABCD, CDAB, BADC, DCBA for 32-bit types",
  },
  { name: "base", value: "ADDRESS", default: "0", help: "first register address" },
  { name: "rate", value: "HZ", default: "10", help: "new values per second" },
  { name: "seed", value: "N", default: "1", help: "PRNG seed" },
  {
    name: "excursion-rate",
    value: "P",
    default: "0.02",
    help: "chance per update of an out-of-range excursion",
  },
  { name: "slow", value: "SECONDS", default: "0", help: "delay every answer" },
  {
    name: "exception-every",
    value: "N",
    default: "0",
    help: 'every Nth request: exception "server device busy", 0 = off',
  },
  {
    name: "drop-every",
    value: "N",
    default: "0",
    help: "every Nth request: close the connection, 0 = off",
  },
  {
    name: "garbage-every",
    value: "N",
    default: "0",
    help: "every Nth request: answer bytes that are not Modbus, 0 = off",
  },
  {
    name: "wrong-tid-every",
    value: "N",
    default: "0",
    help: "every Nth request: answer another transaction id, 0 = off",
  },
  {
    name: "missing",
    value: "ADDRESS",
    multiple: true,
    help: "a register that does not exist; repeatable",
  },
  {
    name: "print-config",
    boolean: true,
    help: "print the gateway's --modbus file for this layout, then exit",
  },
  {
    name: "config-out",
    value: "FILE",
    help: "once listening, write that file (with the bound port) to FILE",
  },
];

const USAGE = usage(
  "plc",
  "Simulated PLC: serves drifting sensor values as Modbus TCP registers.",
  FLAGS,
  "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.",
);

/** Parses the PLC's flags. */
export function parseConfig(args: string[]): PlcConfig {
  const values = parseTable(args, FLAGS);
  const integer = (flag: string, min: number, max: number) =>
    parseNumber(flag, values.string(flag), { min, max, integer: true });
  const type = values.string("type") as RegisterType;
  if (!REGISTER_TYPE_NAMES.includes(type)) {
    throw new UsageError(
      `Cannot parse --type: expected ${REGISTER_TYPE_NAMES.join(", ")}, got "${type}"`,
    );
  }
  const order = values.string("order") as ByteOrder;
  if (!BYTE_ORDERS.includes(order)) {
    throw new UsageError(
      `Cannot parse --order: expected ${BYTE_ORDERS.join(", ")}, got "${order}"`,
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
    host: values.string("host"),
    port: parsePort("port", values.string("port")),
    unit,
    devices,
    layout,
    rate: parseNumber("rate", values.string("rate"), { min: 0.01, max: 1000 }),
    seed: integer("seed", 0, 0xffff_ffff),
    excursionRate: parseNumber("excursion-rate", values.string("excursion-rate"), {
      min: 0,
      max: 1,
    }),
    slowMs: 1000 * parseNumber("slow", values.string("slow"), { min: 0, max: 3600 }),
    exceptionEvery: integer("exception-every", 0, 1e9),
    dropEvery: integer("drop-every", 0, 1e9),
    garbageEvery: integer("garbage-every", 0, 1e9),
    wrongTidEvery: integer("wrong-tid-every", 0, 1e9),
    missing: new Set(values.list("missing").map((value) => parsePort("missing", value))),
    printConfig: values.boolean("print-config"),
    configOut: values.optional("config-out"),
  };
}

/** What the flags need: the listening port, the `--config-out` file. */
export function permissions(config: PlcConfig): PermissionNeed[] {
  return [
    netAccess("port", config.host, config.port),
    ...(config.configOut === undefined ? [] : [writeAccess("config-out", config.configOut)]),
  ];
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
  const { layout } = config;
  const devices = new SimulatedDevices(layout, config);
  const ticker = setInterval(() => devices.update(), 1000 / config.rate);
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
  const served = { firstUnit: config.unit, registers: devices.registers };
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

/** The program, as `runMain` runs it. */
export const plcProgram: Program<PlcConfig> = {
  name: "plc",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(plcProgram);
