/**
 * `deno task gateway`: the plant's mutual-TLS door for sensors. Checks each
 * frame's CRC and each reading's identity against the client certificate,
 * commits readings to a durable SQLite spool in batches, ACKs them only once
 * committed, and forwards the spool to the server's `POST /api/data`,
 * deleting nothing before the server's 2xx.
 *
 * Flags: `deno task gateway --help` (the table is {@linkcode FLAGS});
 * `--modbus FILE` also polls the Modbus TCP devices of FILE (docs/modbus.md)
 * into the same spool; `--opcua FILE` also subscribes to the OPC UA servers
 * of FILE (docs/opcua.md).
 *
 * The first log line is `listening on HOST:PORT`. SIGINT/SIGTERM: stop
 * accepting, commit and ACK what is in hand, close the connections, let an
 * in-flight POST finish (up to 5 s), close the spool, exit 0. A restart
 * resumes forwarding from the spool. SIGHUP, or a change of `crl.pem`,
 * reloads the revocation list and drops the sensors it newly revokes.
 *
 * Exit codes: 0 after a clean shutdown, 1 fatal error (unreadable
 * certificates, spool not a database, port in use), 2 bad flags, a missing
 * permission, or a `--modbus`/`--opcua` file that does not follow its format (one line
 * naming the file, the field and the reason).
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { isAbsolute, join, relative } from "node:path";
import {
  type CommonConfig,
  commonConfig,
  parseHttpUrl,
  parseNumber,
  parsePort,
  parseTable,
  type Program,
  runMain,
} from "./lib/cli.ts";
import { holdUntil, type Logger } from "./lib/log.ts";
import { type Flag, usage } from "./lib/flags.ts";
import {
  databaseAccess,
  netAccess,
  type PermissionNeed,
  readAccess,
  urlAccess,
} from "./lib/permissions.ts";
import { readCredentials } from "./gateway/credentials.ts";
import { serveGateway } from "./gateway/serve.ts";
import { RevocationList } from "./gateway/revocation.ts";
import { openSpool } from "./gateway/spool.ts";
import { openDatabase } from "./lib/database.ts";
import { loadModbusSource, modbusAccess } from "./gateway/modbus_source.ts";
import { loadOpcuaSource, opcuaAccess } from "./gateway/opcua.ts";
import { type DeviceSource, DeviceSources } from "./gateway/sources.ts";
import { readCa, serverClient } from "./lib/tls.ts";

/** Configuration of the gateway. */
export interface GatewayConfig extends CommonConfig {
  readonly host: string;
  readonly port: number;
  /** One server, or several sharing one store (failover, load spread). */
  readonly server: readonly URL[];
  /** The CA file an `https://` server must chain to (`--ca`). */
  readonly serverCa: string;
  readonly spool: string;
  readonly certs: string;
  readonly spoolMax: number;
  /** Milliseconds of forwarding the spool holds while the server takes readings; 0: no budget. */
  readonly backlogMs: number;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly flushMs: number;
  readonly statsIntervalMs: number;
  /** Undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  /** Undefined: no Modbus devices. */
  readonly modbus: string | undefined;
  /** Undefined: no OPC UA servers. */
  readonly opcua: string | undefined;
}

/** The flags of `deno task gateway`. */
export const FLAGS: readonly Flag[] = [
  { name: "host", value: "HOST", default: "127.0.0.1", help: "listen address" },
  { name: "port", value: "PORT", default: "8443", help: "listen port, 0 = any free port" },
  {
    name: "server",
    value: "URL[,URL...]",
    default: "http://127.0.0.1:8080",
    help: "server base URL; several servers sharing one PostgreSQL store: fail over and " +
      "spread the load",
  },
  {
    name: "ca",
    value: "FILE",
    defaultHelp: "ca.crt in --certs",
    help: "CA an https:// server must chain to; always verified",
  },
  { name: "spool", value: "FILE", default: "data/gateway-spool.db", help: "spool database" },
  {
    name: "certs",
    value: "DIR",
    default: "certs",
    help: "ca.crt, gateway.crt, gateway.key, ingest.token; crl.pem there, if present, " +
      "lists revoked sensors and is reloaded when it changes or on SIGHUP",
  },
  {
    name: "spool-max",
    value: "N",
    default: "1000000",
    help: "spool bound in readings; beyond it sensors get ERROR 4 and keep their readings; " +
      "while the server drains it, a sensor is first held up to 2 s",
  },
  {
    name: "backlog-ms",
    value: "MS",
    default: "100",
    help: "while the server takes readings, spool at most MS of forwarding (at the rate " +
      "measured, plus two network round trips to the server; keep MS above the server's own " +
      "time per request) and hold sensors back beyond it; a stalled server fills the spool " +
      "towards --spool-max; 0 = no budget",
  },
  {
    name: "max-connections",
    value: "N",
    default: "2048",
    help: "simultaneous TCP connections",
  },
  {
    name: "idle-timeout",
    value: "SECONDS",
    default: "60",
    help: "close a connection with no frame for this long",
  },
  { name: "flush-ms", value: "MS", default: "50", help: "commit and ACK interval" },
  {
    name: "stats-interval",
    value: "SECONDS",
    default: "10",
    help: "period of the stats log line, 0 = off",
  },
  {
    name: "metrics-port",
    value: "PORT",
    defaultHelp: "off",
    help: "serve Prometheus metrics on HOST:PORT/metrics, 0 = any free port",
  },
  {
    name: "modbus",
    value: "FILE",
    defaultHelp: "off",
    help: "also poll the Modbus TCP devices in FILE (docs/modbus.md)",
  },
  {
    name: "opcua",
    value: "FILE",
    defaultHelp: "off",
    help: "also subscribe to the OPC UA servers in FILE (docs/opcua.md)",
  },
];

const USAGE = usage(
  "gateway",
  `Mutual-TLS listener for sensors: checks CRC and certificate identity, spools
readings durably, ACKs them, and forwards them to the server.`,
  FLAGS,
  "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.",
);

/** Parses the gateway's flags. */
export function parseConfig(args: string[]): GatewayConfig {
  const values = parseTable(args, FLAGS);
  const metricsPort = values.optional("metrics-port");
  return {
    ...commonConfig(values),
    host: values.string("host"),
    port: parsePort("port", values.string("port")),
    server: values.string("server").split(",").map((url) => parseHttpUrl("server", url.trim())),
    serverCa: values.optional("ca") ?? join(values.string("certs"), "ca.crt"),
    spool: values.string("spool"),
    certs: values.string("certs"),
    spoolMax: parseNumber("spool-max", values.string("spool-max"), { min: 1, integer: true }),
    backlogMs: parseNumber("backlog-ms", values.string("backlog-ms"), { min: 0, max: 3_600_000 }),
    maxConnections: parseNumber("max-connections", values.string("max-connections"), {
      min: 1,
      max: 1_000_000,
      integer: true,
    }),
    idleTimeoutMs: 1000 *
      parseNumber("idle-timeout", values.string("idle-timeout"), { min: 0.1, max: 86_400 }),
    flushMs: parseNumber("flush-ms", values.string("flush-ms"), { min: 1, max: 10_000 }),
    statsIntervalMs: 1000 *
      parseNumber("stats-interval", values.string("stats-interval"), { min: 0, max: 86_400 }),
    metricsPort: metricsPort === undefined ? undefined : parsePort("metrics-port", metricsPort),
    modbus: values.optional("modbus"),
    opcua: values.optional("opcua"),
  };
}

/** What the flags need: the certificates, the spool's directory, the ports, the server. */
export function permissions(config: GatewayConfig): PermissionNeed[] {
  return [
    readAccess("certs", config.certs),
    // --ca for an https:// server, unless it is the ca.crt --certs already grants.
    ...(config.server.some((server) => server.protocol === "https:") &&
        !isInside(config.serverCa, config.certs)
      ? [readAccess("ca", config.serverCa)]
      : []),
    ...databaseAccess("spool", config.spool),
    netAccess("host", config.host, config.port),
    ...config.server.map((server) => urlAccess("server", server)),
    ...(config.metricsPort === undefined
      ? []
      : [netAccess("metrics-port", config.host, config.metricsPort)]),
    ...(config.modbus === undefined ? [] : modbusAccess(config.modbus)),
    ...(config.opcua === undefined ? [] : opcuaAccess(config.opcua)),
  ];
}

function isInside(path: string, directory: string): boolean {
  const rest = relative(directory, path);
  return rest !== "" && !rest.startsWith("..") && !isAbsolute(rest);
}

/** Runs the gateway until `signal` aborts, then shuts down in order. */
export async function run(
  config: GatewayConfig,
  signal: AbortSignal,
  programLog: Logger,
): Promise<void> {
  // What it loads on the way is logged after `listening on`, which stays the first line.
  const log = holdUntil(programLog, "listening on ");
  try {
    await runGateway(config, signal, log);
  } finally {
    log.release();
  }
}

async function runGateway(config: GatewayConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const sources = await loadSources(config, log);
  const credentials = await readCredentials(config.certs);
  // One client for every server: an https:// one needs the plant CA.
  const first = config.server.find((server) => server.protocol === "https:") ?? config.server[0]!;
  const http = serverClient(first, await readCa(first, config.serverCa));
  const spool = openDatabase(
    "spool",
    config.spool,
    (path) => openSpool(path, { maxReadings: config.spoolMax }),
  );
  // The revocation list's watch ends with this run, on the signal or on an error.
  const lifetime = new AbortController();
  signal.addEventListener("abort", () => lifetime.abort(), { once: true });
  try {
    const revocation = await RevocationList.open(join(config.certs, "crl.pem"), {
      ca: new X509Certificate(credentials.ca),
      log,
      signal: lifetime.signal,
    });
    await serveGateway(spool, {
      ...config,
      ...credentials,
      revocation,
      fetch: http.fetch,
      spoolPath: config.spool,
      sources,
      log,
    }, signal);
  } finally {
    lifetime.abort();
    spool.close();
    http.close();
  }
}

/**
 * The device sources the flags name, their files read and checked (a bad
 * file throws a `UsageError`: exit 2) and their devices within the
 * permission set.
 */
async function loadSources(config: GatewayConfig, log: Logger): Promise<DeviceSources> {
  const sources: DeviceSource[] = [];
  if (config.modbus !== undefined) sources.push(await loadModbusSource(config.modbus, log));
  if (config.opcua !== undefined) {
    sources.push(await loadOpcuaSource(config.opcua, config.certs, log));
  }
  return new DeviceSources(sources);
}

/** The program, as `runMain` runs it. */
export const gatewayProgram: Program<GatewayConfig> = {
  name: "gateway",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(gatewayProgram);
