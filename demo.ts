/**
 * `deno task demo`: the whole plant on one machine, with one command.
 *
 * Creates the certificates if they are missing, then starts the server, the
 * gateway, the simulated sensors and the query client, each as its own
 * process under its own permission set, prefixes every line they print with
 * the process's name, and prints the dashboard's address. Ctrl-C (SIGINT) or
 * SIGTERM stops them in dependency order — sensors first, so the gateway can
 * acknowledge and forward what is in hand, the server last — and exits 0.
 * A component that dies on its own is reported and the demo stops the rest
 * and exits 1 rather than limping on.
 *
 * With `--modbus` it also starts a simulated PLC (plc.ts) with three
 * sensors (ids 1001…, or above the TLS sensors' ids), has it write the
 * gateway's `--modbus` file into the data directory, and starts the gateway
 * with it: Modbus readings appear on the dashboard next to the TLS ones.
 * With `--opcua` it likewise starts the simulated OPC UA server
 * (opcua_server.ts), trusting the gateway's OPC UA certificate, has it write
 * the gateway's `--opcua` file (SignAndEncrypt, its certificate pinned) and
 * starts the gateway with it: one more sensor (id 2001, or above the others).
 *
 * Flags: `deno task demo --help` (the table is {@linkcode FLAGS}).
 *
 * Exit codes: 0 stopped by a signal, 1 a component failed, 2 bad flags.
 *
 * @module
 */

import { join } from "node:path";
import { type Child, startChild } from "./lib/child.ts";
import {
  type CommonConfig,
  commonConfig,
  parseNumber,
  parsePort,
  parseTable,
  type Program,
  runMain,
} from "./lib/cli.ts";
import { type Flag, usage } from "./lib/flags.ts";
import type { ProgramName } from "./lib/launch.ts";
import type { Logger } from "./lib/log.ts";
import { type PermissionNeed, readAccess, runAccess } from "./lib/permissions.ts";
import {
  firstExit,
  listeningAddress,
  printPrefixed,
  START_TIMEOUT_MS,
  stopAll,
} from "./demo/processes.ts";

/** Configuration of the demo. */
export interface DemoConfig extends CommonConfig {
  readonly sensors: number;
  readonly interval: number;
  readonly port: number;
  readonly gatewayPort: number;
  /** Certificates directory; the programs' default unless given. */
  readonly certs: string;
  /** Directory for the server's database and the gateway's spool. */
  readonly data: string;
  /** Seconds between the query client's polls. */
  readonly queryInterval: number;
  /** Readings per sensor, 0 = forever. */
  readonly count: number;
  /** Seed of the simulated values, for a reproducible run. */
  readonly seed: number | undefined;
  /** Also run a simulated PLC polled by the gateway over Modbus TCP. */
  readonly modbus: boolean;
  /** Also run a simulated OPC UA server the gateway subscribes to. */
  readonly opcua: boolean;
}

/** The flags of `deno task demo`. */
export const FLAGS: readonly Flag[] = [
  { name: "sensors", value: "N", default: "5", help: "simulated sensors, ids 1..N" },
  {
    name: "interval",
    value: "SECONDS",
    default: "1",
    help: "seconds between readings per sensor",
  },
  {
    name: "count",
    value: "N",
    default: "0",
    help: "readings per sensor, then the sensors stop; 0 = forever",
  },
  { name: "seed", value: "N", defaultHelp: "random", help: "seed of the simulated values" },
  {
    name: "port",
    value: "PORT",
    default: "8080",
    help: "server and dashboard port, 0 = any free",
  },
  {
    name: "gateway-port",
    value: "PORT",
    default: "8443",
    help: "gateway port for sensors, 0 = any free",
  },
  {
    name: "query-interval",
    value: "SEC",
    default: "10",
    help: "seconds between the query client's polls",
  },
  { name: "certs", value: "DIR", default: "certs", help: "certificates, created if missing" },
  { name: "data", value: "DIR", default: "data", help: "databases" },
  {
    name: "modbus",
    boolean: true,
    help: "also run a simulated PLC the gateway polls over Modbus TCP",
  },
  {
    name: "opcua",
    boolean: true,
    help: "also run a simulated OPC UA server the gateway subscribes to",
  },
];

const USAGE = usage(
  "demo",
  `Runs the server, the gateway, simulated sensors and the query client
together, each as its own process with only the permissions its flags need.
Ctrl-C stops them all cleanly, in order.`,
  FLAGS,
  `Exit codes: 0 stopped by Ctrl-C or SIGTERM, 1 a component failed, 2 bad flags.`,
);

/** Sensors of the demo's simulated PLC. */
const PLC_SENSORS = 3;

/** Parses the demo's flags. */
export function parseConfig(args: string[]): DemoConfig {
  const values = parseTable(args, FLAGS);
  return {
    ...commonConfig(values),
    sensors: parseNumber("sensors", values.string("sensors"), {
      min: 1,
      max: 10_000,
      integer: true,
    }),
    interval: parseNumber("interval", values.string("interval"), { min: 0.001 }),
    port: parsePort("port", values.string("port")),
    gatewayPort: parsePort("gateway-port", values.string("gateway-port")),
    queryInterval: parseNumber("query-interval", values.string("query-interval"), { min: 0.1 }),
    certs: values.string("certs"),
    data: values.string("data"),
    count: parseNumber("count", values.string("count"), { min: 0, integer: true }),
    seed: values.optional("seed") === undefined
      ? undefined
      : parseNumber("seed", values.string("seed"), { min: 0, max: 0xffff_ffff, integer: true }),
    modbus: values.boolean("modbus"),
    opcua: values.boolean("opcua"),
  };
}

/**
 * The demo runs Deno (its children get their own permissions from their
 * flags) and, with `--modbus` or `--opcua`, reads the simulator's file to
 * grant the gateway the devices or servers it names.
 */
export function permissions(config: DemoConfig): PermissionNeed[] {
  return [
    runAccess("demo", Deno.execPath()),
    ...(config.modbus ? [readAccess("modbus", join(config.data, "modbus.json"))] : []),
    ...(config.opcua ? [readAccess("opcua", join(config.data, "opcua.json"))] : []),
  ];
}

/**
 * Runs the plant until `signal` aborts or a component dies. Resolves 0 after
 * a clean stop, 1 when a component failed (to start, or later).
 */
export async function run(config: DemoConfig, signal: AbortSignal, log: Logger): Promise<number> {
  const children: Child[] = [];
  running = children;
  const common = [...(config.logJson ? ["--log-json"] : []), ...(config.debug ? ["--debug"] : [])];
  const start = async (name: ProgramName, args: string[]) => {
    const child = await startChild(`${name}.ts`, [...args, ...common], {
      keepLines: 50,
      detached: true,
      onLine: (line) => printPrefixed(name, line),
    });
    children.push(child);
    return child;
  };

  try {
    const certs = await start("certs", [
      ...["--out", config.certs, "--sensors", String(Math.max(10, config.sensors))],
    ]);
    const certsStatus = await certs.status;
    children.pop();
    if (!certsStatus.success) throw new ComponentError("certs", certsStatus.code);

    const server = await start("server", [
      ...["--port", String(config.port), "--db", join(config.data, "readings.db")],
      ...["--token-file", join(config.certs, "ingest.token")],
    ]);
    const serverAddress = await listeningAddress(server);

    const modbusFile = join(config.data, "modbus.json");
    if (config.modbus) {
      const plc = await start("plc", [
        ...["--port", "0", "--sensors", String(PLC_SENSORS), "--config-out", modbusFile],
        ...["--first-id", String(Math.max(1001, config.sensors + 1))],
        ...(config.seed === undefined ? [] : ["--seed", String(config.seed)]),
      ]);
      await listeningAddress(plc);
    }

    const opcuaFile = join(config.data, "opcua.json");
    if (config.opcua) {
      const opcua = await start("opcua_server", [
        ...["--port", "0", "--pki", join(config.data, "opcua-server-pki")],
        ...["--trust", join(config.certs, "opcua", "gateway.crt"), "--config-out", opcuaFile],
        ...["--first-id", String(Math.max(2001, config.sensors + 1001 + PLC_SENSORS))],
        ...(config.seed === undefined ? [] : ["--seed", String(config.seed)]),
      ]);
      await listeningAddress(opcua);
    }

    const gateway = await start("gateway", [
      ...(config.modbus ? ["--modbus", modbusFile] : []),
      ...(config.opcua ? ["--opcua", opcuaFile] : []),
      ...["--port", String(config.gatewayPort), "--server", `http://${serverAddress}`],
      ...["--spool", join(config.data, "gateway-spool.db"), "--certs", config.certs],
    ]);
    const gatewayAddress = await listeningAddress(gateway);

    // The query client follows the store from where it is when it starts:
    // started before the sensors, it judges every reading they send.
    const query = await start("query", [
      ...["--server", `http://${serverAddress}`, "--interval", String(config.queryInterval)],
    ]);
    await query.waitForLine(/following /, START_TIMEOUT_MS);

    const sensor = await start("sensor", [
      ...["--gateway", gatewayAddress, "--sensors", String(config.sensors)],
      ...["--interval", String(config.interval), "--count", String(config.count)],
      ...(config.seed === undefined ? [] : ["--seed", String(config.seed)]),
      ...["--certs", config.certs],
    ]);
    // Until its signal handlers are in place, a Ctrl-C would kill it outright.
    await sensor.waitForLine(/sending to /, START_TIMEOUT_MS);

    log.info(`dashboard: http://${serverAddress}/`);
    const plcSensors = (config.modbus ? ` + ${PLC_SENSORS} Modbus sensors (simulated PLC)` : "") +
      (config.opcua ? " + 1 OPC UA sensor (simulated server)" : "");
    log.info(
      `${config.sensors} sensors${plcSensors} → gateway ${gatewayAddress} → server ${serverAddress}; ` +
        "Ctrl-C stops",
    );

    let failed = await firstExit(children, signal);
    if (failed?.child === sensor && failed.status.success && config.count > 0) {
      // With --count the sensors finish on their own once all is acknowledged.
      log.info(`the sensors sent their ${config.count} readings each; the rest runs until Ctrl-C`);
      failed = await firstExit(children.filter((child) => child !== sensor), signal);
    }
    if (failed) {
      throw new ComponentError(failed.child.script.replace(/\.ts$/, ""), failed.status.code);
    }
    return await stopAll(children, log) ? 0 : 1;
  } catch (error) {
    if (error instanceof ComponentError) {
      log.error(error.message);
    } else {
      log.error(`cannot run the demo: ${error instanceof Error ? error.message : error}`);
    }
    await stopAll(children, log);
    return 1;
  }
}

class ComponentError extends Error {
  constructor(name: string, code: number) {
    super(`${name} exited with code ${code}; stopping the others`);
  }
}

// The children run in sessions of their own (a Ctrl-C reaches only the demo,
// which stops them in order); a forced exit must not leave them running.
let running: readonly Child[] = [];

/** The demo, as `runMain` runs it. */
export const demoProgram: Program<DemoConfig> = {
  name: "demo",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
  onForceExit: () => running.forEach((child) => child.kill()),
};

if (import.meta.main) await runMain(demoProgram);
