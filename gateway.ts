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
 *   --log-json, --debug, -h/--help
 *
 * The first log line is `listening on HOST:PORT`. SIGINT/SIGTERM: stop
 * accepting, commit and ACK what is in hand, close the connections, let an
 * in-flight POST finish (up to 5 s), close the spool, exit 0. A restart
 * resumes forwarding from the spool.
 *
 * Exit codes: 0 after a clean shutdown, 1 fatal error (unreadable
 * certificates, spool not a database, port in use), 2 bad flags or a flag
 * pointing outside the permission set.
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
import { Committer } from "./gateway/committer.ts";
import { Forwarder } from "./gateway/forwarder.ts";
import { listenForSensors } from "./gateway/listener.ts";
import { GatewayMetrics } from "./gateway/metrics.ts";
import { RoomGate } from "./gateway/room_gate.ts";
import { openSpool } from "./gateway/spool.ts";
import { openDatabase } from "./lib/database.ts";

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
  --log-json                log one JSON object per line
  --debug                   log debug lines and stacks
  -h, --help                show this help
`;

const SHUTDOWN_SESSIONS_GRACE_MS = 2_000;
const SHUTDOWN_FORWARD_GRACE_MS = 5_000;
const MAX_HANDSHAKE_MS = 10_000;
/** Uncommitted readings per connection before its socket pauses: bounds memory per peer. */
const MAX_PENDING_PER_CONNECTION = 4_096;
/** Unread ACK bytes queued towards a peer before it is dropped as not reading. */
const MAX_WRITE_BUFFER = 64 * 1024;

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
  const credentials = await readCredentials(config.certs);
  const spool = openDatabase(
    "spool",
    config.spool,
    (path) => openSpool(path, { maxReadings: config.spoolMax }),
  );
  try {
    await serve(config, signal, log, credentials, spool);
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

async function serve(
  config: GatewayConfig,
  signal: AbortSignal,
  log: Logger,
  credentials: Credentials,
  spool: ReturnType<typeof openSpool>,
): Promise<void> {
  const metrics = new GatewayMetrics();
  metrics.readGauge("spool_depth", () => spool.depth);
  metrics.readGauge("spool_batches", () => spool.batches);
  const forwarder = new Forwarder(spool, {
    server: config.server,
    token: credentials.token,
    metrics,
    log,
  });
  const committer = new Committer(spool, { flushMs: config.flushMs, metrics, log });
  const gate = new RoomGate(spool, { drain: forwarder, metrics });
  const listener = await listenForSensors({
    hostname: config.host,
    port: config.port,
    ca: credentials.ca,
    cert: credentials.cert,
    key: credentials.key,
    committer,
    gate,
    metrics,
    log,
    maxConnections: config.maxConnections,
    idleTimeoutMs: config.idleTimeoutMs,
    handshakeTimeoutMs: Math.min(MAX_HANDSHAKE_MS, config.idleTimeoutMs),
    maxPendingReadings: MAX_PENDING_PER_CONNECTION,
    maxWriteBuffer: MAX_WRITE_BUFFER,
  });
  log.info(`listening on ${listener.hostname}:${listener.port}`, {
    spool: config.spool,
    backlog: spool.depth,
    server: config.server.origin,
  });

  const metricsServer = config.metricsPort === undefined
    ? undefined
    : serveMetrics(config.host, config.metricsPort, metrics, log);
  const stopStats = startStatsLine(config.statsIntervalMs, metrics, log);
  const forwarding = forwarder.run();

  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  let fatal: unknown;
  await Promise.race([aborted, forwarding.catch((error) => (fatal = error))]);

  // Shutdown, in the order the ACK promise needs: no new peers, make what is
  // in hand durable and ACK it, then let the peers go, then the forwarder.
  listener.stopAccepting();
  gate.releaseAll();
  committer.flush();
  await listener.closeSessions(SHUTDOWN_SESSIONS_GRACE_MS);
  committer.flush(); // readings that raced the close: stored, resent anyway, deduped downstream
  forwarder.stop(SHUTDOWN_FORWARD_GRACE_MS);
  await forwarding.catch((error) => (fatal ??= error));
  stopStats();
  await metricsServer?.shutdown();
  log.info("stopped", { ...metrics.toLogFields() });
  if (fatal !== undefined) throw fatal;
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

function serveMetrics(
  hostname: string,
  port: number,
  metrics: GatewayMetrics,
  log: Logger,
): Deno.HttpServer {
  return Deno.serve({
    hostname,
    port,
    onListen: (address) =>
      log.info(`metrics on http://${address.hostname}:${address.port}/metrics`),
  }, (request) => {
    if (new URL(request.url).pathname !== "/metrics") {
      return Response.json({ error: "not found" }, { status: 404 });
    }
    return new Response(metrics.toPrometheus(), {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  });
}

/** Logs `stats` every `intervalMs` when anything moved; returns the stop function. */
function startStatsLine(intervalMs: number, metrics: GatewayMetrics, log: Logger): () => void {
  if (intervalMs <= 0) return () => {};
  let last = "";
  let lastReadings = metrics.values.readings;
  let lastForwarded = metrics.values.forwarded;
  const timer = setInterval(() => {
    const snapshot = JSON.stringify(metrics.toLogFields());
    if (snapshot === last) return;
    last = snapshot;
    const seconds = intervalMs / 1000;
    const memory = Deno.memoryUsage();
    log.info("stats", {
      readings_per_s: Math.round((metrics.values.readings - lastReadings) / seconds),
      forwarded_per_s: Math.round((metrics.values.forwarded - lastForwarded) / seconds),
      ...metrics.toLogFields(),
      rss_mb: Math.round(memory.rss / 1048576),
      heap_mb: Math.round(memory.heapUsed / 1048576),
    });
    lastReadings = metrics.values.readings;
    lastForwarded = metrics.values.forwarded;
  }, intervalMs);
  return () => clearInterval(timer);
}

/** The program, as `runMain` runs it. */
export const gatewayProgram: Program<GatewayConfig> = {
  name: "gateway",
  usage: USAGE,
  parseConfig,
  run,
};

if (import.meta.main) await runMain(gatewayProgram);
