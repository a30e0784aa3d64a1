/**
 * `deno task gateway`: the plant's mutual-TLS door for sensors. Checks each
 * frame's CRC and each reading's identity against the client certificate,
 * commits readings to a durable SQLite spool in batches, ACKs them only once
 * committed, and forwards the spool to the server's `POST /api/data`,
 * deleting nothing before the server's 2xx.
 *
 * Usage: deno task gateway [flags]
 *
 *   --host HOST             listen address (default 127.0.0.1)
 *   --port PORT             listen port, 0 = any free port (default 8443)
 *   --server URL            the server's base URL (default http://127.0.0.1:8080)
 *   --spool FILE            the spool database (default data/gateway-spool.db)
 *   --certs DIR             ca.crt, gateway.crt, gateway.key, ingest.token (default certs)
 *   --spool-max N           spool bound in readings; when full, new readings get
 *                           ERROR 4 and stay on the sensors (default 1000000);
 *                           while the server is draining it, a sensor is first
 *                           held unread for up to 2 s
 *   --max-connections N     TCP connections at once (default 2048)
 *   --idle-timeout SECONDS  no complete frame for this long: ERROR 5 (default 60)
 *   --flush-ms MS           longest wait for a commit and its ACK (default 50)
 *   --stats-interval SECONDS  period of the `stats` log line, 0 = off (default 10)
 *   --metrics-port PORT     also serve Prometheus text on http://HOST:PORT/metrics
 *                           (0 = any free port; default off)
 *   --modbus FILE           also poll the Modbus TCP devices of FILE (JSON, see
 *                           docs/modbus.md) into the same spool (default off)
 *   --log-json, --debug, -h/--help
 *
 * The first log line is `listening on HOST:PORT`. SIGINT/SIGTERM: stop
 * accepting, commit and ACK what is in hand, close the connections, let an
 * in-flight POST finish (up to 5 s), close the spool, exit 0. A restart
 * resumes forwarding from the spool.
 *
 * Exit codes: 0 after a clean shutdown, 1 fatal error (unreadable
 * certificates, spool not a database, port in use), 2 bad flags, a flag
 * pointing outside the permission set, or a `--modbus` file that does not
 * follow its format (one line naming the file, the field and the reason).
 *
 * @module
 */

import { join } from "node:path";
import {
  type CommonConfig,
  commonConfig,
  parseFlags,
  parseHttpUrl,
  parseNumber,
  parsePort,
  type Program,
  runMain,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { assertPermissions, databaseAccess, netAccess, readAccess } from "./lib/permissions.ts";
import { serveGateway } from "./gateway/serve.ts";
import { openSpool } from "./gateway/spool.ts";
import { openDatabase } from "./lib/database.ts";
import { readModbusConfig } from "./gateway/modbus_config.ts";
import { createModbusSource } from "./gateway/modbus_source.ts";
import { type DeviceSource, DeviceSources } from "./gateway/sources.ts";

/** Configuration of the gateway. */
export interface GatewayConfig extends CommonConfig {
  readonly host: string;
  readonly port: number;
  readonly server: URL;
  readonly spool: string;
  readonly certs: string;
  readonly spoolMax: number;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly flushMs: number;
  readonly statsIntervalMs: number;
  /** Undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  /** Undefined: no Modbus devices. */
  readonly modbus: string | undefined;
}

const USAGE = `
Usage: deno task gateway [flags]

Mutual-TLS listener for sensors: checks CRC and certificate identity, spools
readings durably, ACKs them, and forwards them to the server.

  --host HOST               listen address (default: 127.0.0.1)
  --port PORT               listen port, 0 = any free port (default: 8443)
  --server URL              server base URL (default: http://127.0.0.1:8080)
  --spool FILE              spool database (default: data/gateway-spool.db)
  --certs DIR               ca.crt, gateway.crt, gateway.key, ingest.token (default: certs)
  --spool-max N             spool bound in readings; beyond it sensors get ERROR 4
                            and keep their readings (default: 1000000); while the
                            server drains it, a sensor is first held up to 2 s
  --max-connections N       simultaneous TCP connections (default: 2048)
  --idle-timeout SECONDS    close a connection with no frame for this long (default: 60)
  --flush-ms MS             commit and ACK interval (default: 50)
  --stats-interval SECONDS  period of the stats log line, 0 = off (default: 10)
  --metrics-port PORT       serve Prometheus metrics on HOST:PORT/metrics (default: off)
  --modbus FILE             also poll the Modbus TCP devices in FILE (default: off)
  --log-json                log one JSON object per line
  --debug                   log debug lines and stacks
  -h, --help                show this help
`;

/** Parses the gateway's flags. */
export function parseConfig(args: string[]): GatewayConfig {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8443" },
    server: { type: "string", default: "http://127.0.0.1:8080" },
    spool: { type: "string", default: "data/gateway-spool.db" },
    certs: { type: "string", default: "certs" },
    "spool-max": { type: "string", default: "1000000" },
    "max-connections": { type: "string", default: "2048" },
    "idle-timeout": { type: "string", default: "60" },
    "flush-ms": { type: "string", default: "50" },
    "stats-interval": { type: "string", default: "10" },
    "metrics-port": { type: "string" },
    modbus: { type: "string" },
  });
  const metricsPort = values["metrics-port"];
  return {
    ...commonConfig(values),
    host: values.host,
    port: parsePort("port", values.port),
    server: parseHttpUrl("server", values.server),
    spool: values.spool,
    certs: values.certs,
    spoolMax: parseNumber("spool-max", values["spool-max"], { min: 1, integer: true }),
    maxConnections: parseNumber("max-connections", values["max-connections"], {
      min: 1,
      max: 1_000_000,
      integer: true,
    }),
    idleTimeoutMs: 1000 *
      parseNumber("idle-timeout", values["idle-timeout"], { min: 0.1, max: 86_400 }),
    flushMs: parseNumber("flush-ms", values["flush-ms"], { min: 1, max: 10_000 }),
    statsIntervalMs: 1000 *
      parseNumber("stats-interval", values["stats-interval"], { min: 0, max: 86_400 }),
    metricsPort: metricsPort === undefined ? undefined : parsePort("metrics-port", metricsPort),
    modbus: values.modbus,
  };
}

/** Runs the gateway until `signal` aborts, then shuts down in order. */
export async function run(config: GatewayConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const serverPort = Number(config.server.port) ||
    (config.server.protocol === "https:" ? 443 : 80);
  assertPermissions("gateway", [
    readAccess("certs", config.certs),
    ...databaseAccess("spool", config.spool),
    netAccess("host", config.host, config.port),
    netAccess("server", config.server.hostname.replace(/^\[|\]$/g, ""), serverPort),
    ...(config.metricsPort === undefined
      ? []
      : [netAccess("metrics-port", config.host, config.metricsPort)]),
  ]);
  const sources = await loadSources(config, log);
  const credentials = await readCredentials(config.certs);
  const spool = openDatabase(
    "spool",
    config.spool,
    (path) => openSpool(path, { maxReadings: config.spoolMax }),
  );
  try {
    await serveGateway(spool, {
      ...config,
      ...credentials,
      spoolPath: config.spool,
      sources,
      log,
    }, signal);
  } finally {
    spool.close();
  }
}

interface Credentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  readonly token: string;
}

/**
 * The device sources the flags name, their files read and checked (a bad
 * file throws a `UsageError`: exit 2) and their devices within the
 * permission set.
 */
async function loadSources(config: GatewayConfig, log: Logger): Promise<DeviceSources> {
  const sources: DeviceSource[] = [];
  if (config.modbus !== undefined) {
    assertPermissions("gateway", [readAccess("modbus", config.modbus)]);
    const modbus = await readModbusConfig(config.modbus);
    assertPermissions(
      "gateway",
      modbus.devices.map((device) => netAccess("modbus", device.host, device.port)),
    );
    sources.push(createModbusSource(modbus, { log }));
    log.info(`modbus: polling ${modbus.devices.length} devices`, {
      file: config.modbus,
      sensors: modbus.devices.reduce((sum, device) => sum + device.sensors.length, 0),
    });
  }
  return new DeviceSources(sources);
}

async function readCredentials(dir: string): Promise<Credentials> {
  const read = async (name: string) => {
    try {
      return await Deno.readTextFile(join(dir, name));
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new Error(`Cannot read ${join(dir, name)}: ${detail} (run \`deno task certs\`)`);
    }
  };
  const [ca, cert, key, token] = await Promise.all(
    ["ca.crt", "gateway.crt", "gateway.key", "ingest.token"].map(read),
  ) as [string, string, string, string];
  if (token.trim() === "") throw new Error(`Cannot use ${join(dir, "ingest.token")}: it is empty`);
  return { ca, cert, key, token: token.trim() };
}

/** The program, as `runMain` runs it. */
export const gatewayProgram: Program<GatewayConfig> = {
  name: "gateway",
  usage: USAGE,
  parseConfig,
  run,
};

if (import.meta.main) await runMain(gatewayProgram);
