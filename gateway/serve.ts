/**
 * The gateway put together and taken apart. The parts talk through the
 * spool: the committer commits to it, the forwarder wakes on its
 * `committed` and drains it, the room gate lets held senders go on its
 * `removed`. Besides, one measurement crosses: the admission limit (how
 * full the room gate lets the spool get) is made of the rate the forwarder
 * measures, and the forwarder takes rows oldest first within its budget.
 *
 * ```text
 * sensors ─TLS─▶ listener ─▶ sessions ─▶ committer ─▶ spool ─▶ forwarder ─HTTP─▶ server
 *                               ▲            ▲           │removed   │drain rate
 *                               │     device sources     │          │
 *                               │  (Modbus: sink + seq)  │          │
 *                               └──────── room gate ◀────┴─ admission ◀┘
 * ```
 *
 * The shutdown order is the one the ACK promise needs: no new peers and no
 * more polls, make what is in hand durable and ACK it, then let the peers
 * go, then the forwarder.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { startStatsLine } from "../lib/stats_line.ts";
import { Admission } from "./admission.ts";
import { Committer } from "./committer.ts";
import { Forwarder } from "./forwarder.ts";
import { listenForSensors } from "./listener.ts";
import { GatewayMetrics } from "./metrics.ts";
import type { RevocationList } from "./revocation.ts";
import { RoomGate } from "./room_gate.ts";
import { type DeviceSources, ReadingSink } from "./sources.ts";
import type { Spool } from "./spool.ts";

/** What {@linkcode serveGateway} needs besides its spool. */
export interface ServeOptions {
  readonly host: string;
  readonly port: number;
  readonly server: URL | readonly URL[];
  /** PEM of the plant CA, the gateway's certificate and its key. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  /** The ingest token (secret: never logged). */
  readonly token: string;
  /** The HTTP client for the server (default: the global `fetch`). */
  readonly fetch?: typeof fetch;
  /** Sensor certificates refused although the CA signed them (`crl.pem`). */
  readonly revocation?: RevocationList;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly flushMs: number;
  /** Milliseconds of forwarding the spool holds while the server takes readings; 0: no budget. */
  readonly backlogMs: number;
  /** 0 = no `stats` line. */
  readonly statsIntervalMs: number;
  /** Undefined: no metrics endpoint. */
  readonly metricsPort: number | undefined;
  /** For the first log line only. */
  readonly spoolPath: string;
  /** Device sources (Modbus): started after the listener, stopped with it. */
  readonly sources: DeviceSources;
  readonly log: Logger;
}

const SHUTDOWN_SESSIONS_GRACE_MS = 2_000;
const SHUTDOWN_FORWARD_GRACE_MS = 5_000;
const MAX_HANDSHAKE_MS = 10_000;
/** Uncommitted readings per connection before its socket pauses: bounds memory per peer. */
const MAX_PENDING_PER_CONNECTION = 4_096;
/** Unread ACK bytes queued towards a peer before it is dropped as not reading. */
const MAX_WRITE_BUFFER = 64 * 1024;

/**
 * Runs the gateway on `spool` until `signal` aborts (or the forwarder
 * fails for good, which is rethrown), then shuts down in order. The spool
 * is the caller's to close.
 */
export async function serveGateway(
  spool: Spool,
  options: ServeOptions,
  signal: AbortSignal,
): Promise<void> {
  const { log } = options;
  const metrics = new GatewayMetrics();
  metrics.readGauge("spool_depth", () => spool.depth);
  metrics.readGauge("spool_batches", () => spool.batches);
  const forwarder: Forwarder = new Forwarder(spool, {
    server: options.server,
    token: options.token,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    metrics,
    log,
    // The admission limit is made of the forwarder's rate, and within its budget rows go oldest first.
    fifoReadings: (): number => admission.budgetReadings(),
  });
  const committer = new Committer(spool, {
    flushMs: options.flushMs,
    // Committed early while the forwarder has nothing in flight: it posts the batch at once.
    drain: forwarder,
    metrics,
    log,
  });
  const admission: Admission = new Admission({
    budgetMs: options.backlogMs,
    maxReadings: spool.maxReadings,
    drain: forwarder,
  });
  const gate = new RoomGate(spool, { drain: forwarder, admission, metrics });
  metrics.readGauge("admission_limit", () => admission.limit(spool.depth));
  metrics.readGauge("drain_rate", () => Math.round(forwarder.drainRate ?? 0));
  metrics.readGauge(
    "forward_round_trip_seconds",
    () => Math.round((forwarder.roundTripMs ?? 0) * 10) / 10_000,
  );
  const listener = await listenForSensors({
    hostname: options.host,
    port: options.port,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
    committer,
    gate,
    ...(options.revocation ? { revocation: options.revocation } : {}),
    metrics,
    log,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    handshakeTimeoutMs: Math.min(MAX_HANDSHAKE_MS, options.idleTimeoutMs),
    maxPendingReadings: MAX_PENDING_PER_CONNECTION,
    maxWriteBuffer: MAX_WRITE_BUFFER,
    reservedIds: options.sources.sensorIds,
  });
  log.info(`listening on ${listener.hostname}:${listener.port}`, {
    spool: options.spoolPath,
    backlog: spool.depth,
    server: [options.server].flat().map((server) => server.origin).join(","),
  });

  const { sources } = options;
  sources.start(new ReadingSink(committer, { lastSeqs: spool.sourceSeqs(), log }));
  const metricsServer = options.metricsPort === undefined ? undefined : serveMetrics(
    options.host,
    options.metricsPort,
    () => metrics.toPrometheus() + sources.toPrometheus(),
    log,
  );
  const stopStats = startStatsLine(log, {
    intervalMs: options.statsIntervalMs,
    rates: () => ({
      readings_per_s: metrics.values.readings,
      forwarded_per_s: metrics.values.forwarded,
    }),
    fields: () => metrics.toLogFields(),
    skipUnchanged: true,
    memory: true,
  });
  const forwarding = forwarder.run();

  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
  let fatal: unknown;
  await Promise.race([aborted, forwarding.catch((error) => (fatal = error))]);

  listener.stopAccepting();
  await sources.stop();
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

/** `GET /metrics` on `hostname:port`, Prometheus text; 404 for anything else. */
function serveMetrics(
  hostname: string,
  port: number,
  exposition: () => string,
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
    return new Response(exposition(), {
      headers: { "content-type": "text/plain; version=0.0.4" },
    });
  });
}
