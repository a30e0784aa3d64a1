/**
 * `deno task server`: the REST API, the SQLite store and the dashboard.
 *
 * Stores the readings the gateway posts (`POST /api/data`, bearer token),
 * answers the read API of docs/http-api.md, pushes new readings to the
 * dashboard over a WebSocket (`/api/live`) and serves the dashboard itself
 * from `static/`.
 *
 * Usage: deno task server [--host HOST] [--port PORT] [--db FILE]
 *          [--token-file FILE] [--thresholds FILE] [--retain-days N]
 *          [--log-json] [--debug]
 *
 * Exit codes: 0 after SIGINT/SIGTERM once in-flight requests are answered
 * and the database is closed; 1 on a fatal error (token file missing, port
 * taken, database unusable); 2 for bad flags or a missing permission.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type CommonConfig,
  commonConfig,
  parseFlags,
  parseNumber,
  parsePort,
  type Program,
  runMain,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { sleep } from "./lib/backoff.ts";
import {
  assertPermissions,
  databaseAccess,
  netAccess,
  type PermissionNeed,
  readAccess,
} from "./lib/permissions.ts";
import { DEFAULT_THRESHOLDS, loadThresholds, type Thresholds } from "./lib/thresholds.ts";
import { createHandler } from "./server/handler.ts";
import { LiveHub } from "./server/live.ts";
import { Metrics } from "./server/metrics.ts";
import { loadStaticFiles, type StaticFiles } from "./server/static_files.ts";
import { openStore, type Store } from "./server/store.ts";
import { openDatabase } from "./lib/database.ts";
import { type CommitInfo, GroupWriter, type Writer } from "./server/writer.ts";
import { WorkerWriter } from "./server/writer_thread.ts";

/** Configuration of `deno task server`. */
export interface ServerConfig extends CommonConfig {
  readonly host: string;
  readonly port: number;
  readonly db: string;
  readonly tokenFile: string;
  readonly thresholds: string | undefined;
  /** Days of readings to keep; 0 keeps everything. */
  readonly retainDays: number;
}

const USAGE = `
Usage: deno task server [--host HOST] [--port PORT] [--db FILE] [--token-file FILE]
                        [--thresholds FILE] [--retain-days N]

Stores readings posted by the gateway in SQLite and serves the REST API
(docs/http-api.md), the live WebSocket and the dashboard.

  --host HOST          address to listen on (default: 127.0.0.1)
  --port PORT          TCP port, 0 for any free one (default: 8080)
  --db FILE            SQLite database, created if missing (default: data/readings.db)
  --token-file FILE    ingest bearer token (default: certs/ingest.token; made by \`deno task certs\`)
  --thresholds FILE    safe ranges served at /api/thresholds (default: built-in ranges)
  --retain-days N      delete readings older than N days, 0 to keep all (default: 0)
  --log-json           log one JSON object per line
  --debug              log debug lines and stacks
  -h, --help           show this help

Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.
`;

/** Parses the flags of `deno task server`. */
export function parseConfig(args: string[]): ServerConfig {
  const values = parseFlags(args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8080" },
    db: { type: "string", default: "data/readings.db" },
    "token-file": { type: "string", default: "certs/ingest.token" },
    thresholds: { type: "string" },
    "retain-days": { type: "string", default: "0" },
  });
  return {
    ...commonConfig(values),
    host: values.host,
    port: parsePort("port", values.port),
    db: values.db,
    tokenFile: values["token-file"],
    thresholds: values.thresholds,
    retainDays: parseNumber("retain-days", values["retain-days"], { min: 0, max: 36500 }),
  };
}

/** Reads the ingest token, failing with what to run when it is missing. */
async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `Cannot read --token-file "${path}": no such file; run \`deno task certs\` to create it`,
      );
    }
    throw new Error(`Cannot read --token-file "${path}": ${(error as Error).message}`);
  }
  const token = text.trim();
  if (token.length === 0) {
    throw new Error(
      `Cannot use --token-file "${path}": it is empty; run \`deno task certs --force\``,
    );
  }
  return token;
}

/** Runs the server until `signal` aborts, then drains and closes the database. */
export async function run(config: ServerConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const needs: PermissionNeed[] = [
    ...databaseAccess("db", config.db),
    readAccess("token-file", config.tokenFile),
    netAccess("host", config.host, config.port),
  ];
  if (config.thresholds !== undefined) needs.push(readAccess("thresholds", config.thresholds));
  assertPermissions("server", needs);

  const token = await readToken(config.tokenFile);
  const thresholds = config.thresholds === undefined
    ? DEFAULT_THRESHOLDS
    : await loadThresholds(config.thresholds);
  const { files, warnings } = await loadStaticFiles();
  const store = openDatabase("db", config.db, openStore);
  try {
    const metrics = new Metrics();
    const live = new LiveHub(store, { log, onDrop: () => metrics.liveDropped++ });
    const onCommit = (info: CommitInfo) => {
      metrics.commit(info.stored, info.duplicates, info.seconds);
      if (info.stored > 0) live.notify();
    };
    // The main connection (opened first: it creates or migrates the schema)
    // only reads; every write goes through the writer thread.
    const onError = (error: unknown) =>
      log.error("store writer failed", { error: (error as Error).message });
    const writer = config.db === ":memory:" || !canStartWriterThread(log)
      ? new GroupWriter(store, { onCommit, onError })
      : await WorkerWriter.open(config.db, { onCommit, onError });
    try {
      const parts = { store, writer, live, metrics, signal, log, token, thresholds, files };
      await serve(config, { ...parts, warnings });
    } finally {
      await writer.close();
    }
  } finally {
    store.close();
  }
  log.info("stopped");
}

/**
 * Whether the writer thread can load its modules (a worker needs read access
 * to them). Without it the server still works, committing on the main
 * thread, only with less throughput under heavy load.
 */
function canStartWriterThread(log: Logger): boolean {
  const modules = ["./server/", "./protocol/"].map((dir) =>
    fileURLToPath(new URL(dir, import.meta.url))
  );
  const readable = (path: string) =>
    Deno.permissions.querySync({ name: "read", path }).state === "granted";
  if (modules.every(readable)) return true;
  log.warn(
    `writer thread unavailable without --allow-read=${
      modules.join(",")
    }: committing on the main thread`,
  );
  return false;
}

/** How long a shutdown waits for requests in flight (a body still arriving). */
const DRAIN_TIMEOUT_MS = 10_000;

/** Serves until `signal` aborts and every request in flight is answered. */
async function serve(
  config: ServerConfig,
  parts: {
    store: Store;
    writer: Writer;
    live: LiveHub;
    metrics: Metrics;
    signal: AbortSignal;
    log: Logger;
    token: string;
    thresholds: Thresholds;
    files: StaticFiles;
    warnings: readonly string[];
  },
): Promise<void> {
  const { store, writer, live, metrics, signal, log } = parts;
  const handler = createHandler(store, {
    token: parts.token,
    thresholds: parts.thresholds,
    staticFiles: parts.files,
    writer,
    live,
    metrics,
    signal,
    log,
  });
  // Requests being answered. On SIGTERM, Deno.serve's own shutdown would
  // cut off a request whose body is still arriving, so the server first
  // refuses new writes (503) and waits for these, then shuts down.
  let inFlight = 0;
  let drained = Promise.withResolvers<void>();
  const tracked = async (request: Request): Promise<Response> => {
    if (inFlight++ === 0) drained = Promise.withResolvers<void>();
    try {
      return await handler(request);
    } finally {
      if (--inFlight === 0) drained.resolve();
    }
  };
  const server = listen(() =>
    Deno.serve({
      hostname: config.host,
      port: config.port,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        log.info(`listening on ${host}:${port}`);
      },
      onError: (error) => {
        log.error("request failed", {
          stack: error instanceof Error ? error.stack : String(error),
        });
        return new Response('{"error":"internal error"}', {
          status: 500,
          headers: { "content-type": "application/json" },
        });
      },
    }, tracked), config);
  signal.addEventListener("abort", async () => {
    live.close();
    if (inFlight > 0) {
      log.info("finishing requests in flight", { requests: inFlight });
      await Promise.race([drained.promise, sleep(DRAIN_TIMEOUT_MS)]);
    }
    await server.shutdown();
  }, { once: true });
  for (const warning of parts.warnings) log.warn(warning);
  log.info("store open", {
    db: config.db,
    cursor: store.newestCursor(),
    static: parts.files.size,
    retain_days: config.retainDays,
  });
  const retention = config.retainDays > 0
    ? retain(writer, config.retainDays, { signal, log, metrics })
    : Promise.resolve();
  await server.finished;
  await retention;
}

/**
 * Deletes readings older than `days` every minute, a few thousand per
 * transaction with a pause between, so a large first clean-up never stalls
 * the writes that share the database.
 */
async function retain(
  writer: Writer,
  days: number,
  context: { signal: AbortSignal; log: Logger; metrics: Metrics },
): Promise<void> {
  const { signal, log, metrics } = context;
  while (!signal.aborted) {
    const cutoff = Date.now() - days * 86_400_000;
    let total = 0;
    try {
      while (!signal.aborted) {
        const { deleted, done } = await writer.deleteBefore(cutoff, 2_000);
        total += deleted;
        metrics.retentionDeleted += deleted;
        if (done) break;
        await sleep(10, signal);
      }
    } catch (error) {
      log.error("retention failed", { error: (error as Error).message });
    }
    if (total > 0) log.info("retention deleted old readings", { readings: total });
    await sleep(60_000, signal);
  }
}

/** Runs `serve`, turning a busy port into a message that says what to do. */
function listen(
  serve: () => Deno.HttpServer,
  config: { host: string; port: number },
): Deno.HttpServer {
  try {
    return serve();
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    throw new Error(
      `Cannot listen on ${config.host}:${config.port}: the address is already in use ` +
        `(another server running? pick another with --port, or --port 0 for any free one)`,
    );
  }
}

/** The program, as `runMain` runs it. */
export const serverProgram: Program<ServerConfig> = {
  name: "server",
  usage: USAGE,
  parseConfig,
  run,
};

if (import.meta.main) await runMain(serverProgram);
