/**
 * `deno task server`: the REST API, the store (SQLite, or PostgreSQL shared
 * by several instances) and the dashboard.
 *
 * Stores the readings the gateway posts (`POST /api/data`, bearer token),
 * answers the read API of docs/http-api.md, pushes new readings to the
 * dashboard over a WebSocket (`/api/live`) and serves the dashboard itself
 * from `static/`.
 *
 * Flags: `deno task server --help` (the table is {@linkcode FLAGS}).
 *
 * Security (README "Security model"): `--tls-cert`/`--tls-key` serve HTTPS
 * (TLS 1.2+); off loopback, plain HTTP needs `--plaintext` or the server
 * exits 2. `--read-token-file` makes every read route ask for a bearer
 * token (server/auth.ts). Both token files hold one token per line and are
 * reloaded when they change or on SIGHUP, so tokens rotate without a
 * restart.
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
  parseNumber,
  parsePort,
  parseTable,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import { type Flag, usage } from "./lib/flags.ts";
import { assertSecureListen, readTlsFiles } from "./lib/tls.ts";
import { openTokenFiles } from "./server/auth.ts";
import type { Logger } from "./lib/log.ts";
import { netAccess, ownFilesAccess, type PermissionNeed, readAccess } from "./lib/permissions.ts";
import { DEFAULT_THRESHOLDS, loadThresholds } from "./lib/thresholds.ts";
import { createHandler } from "./server/handler.ts";
import { DEFAULT_LIMITS } from "./server/ingest.ts";
import { LiveHub } from "./server/live.ts";
import { Metrics } from "./server/metrics.ts";
import { loadStaticFiles } from "./server/static_files.ts";
import { dbAccess, parseDb, readPassword } from "./server/db_flag.ts";
import { openStorage } from "./server/storage.ts";
import type { CommitInfo } from "./server/writer.ts";
import { serveUntilAborted } from "./server/listen.ts";
import { retainReadings } from "./server/retention.ts";

/** Configuration of `deno task server`. */
export interface ServerConfig extends CommonConfig {
  readonly host: string;
  readonly port: number;
  /** An SQLite file, or a `postgres://` URL (server/db_flag.ts). */
  readonly db: string;
  readonly dbPasswordFile: string | undefined;
  readonly tokenFile: string;
  readonly thresholds: string | undefined;
  /** Days of readings to keep; 0 keeps everything. */
  readonly retainDays: number;
  /** Longest estimated wait for the writer a write is queued for, in ms; longer: 503. */
  readonly writeQueueMs: number;
  /** Certificate and key for HTTPS, or undefined for plain HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** Tokens the read routes require, or undefined to leave them open. */
  readonly readTokenFile: string | undefined;
}

/** The flags of `deno task server`. */
export const FLAGS: readonly Flag[] = [
  { name: "host", value: "HOST", default: "127.0.0.1", help: "address to listen on" },
  { name: "port", value: "PORT", default: "8080", help: "TCP port, 0 for any free one" },
  {
    name: "db",
    value: "FILE|URL",
    default: "data/readings.db",
    help: "SQLite database, created if missing, or " +
      "postgres://USER[:PASSWORD]@HOST:PORT/DATABASE (docs/postgres.md)",
  },
  {
    name: "db-password-file",
    value: "FILE",
    help: "PostgreSQL password when the URL has none (else PGPASSWORD)",
  },
  {
    name: "token-file",
    value: "FILE",
    default: "certs/ingest.token",
    help: "ingest bearer tokens, one per line, made by `deno task certs`; reloaded on " +
      "change or SIGHUP",
  },
  {
    name: "thresholds",
    value: "FILE",
    defaultHelp: "built-in ranges",
    help: "safe ranges served at /api/thresholds",
  },
  {
    name: "retain-days",
    value: "N",
    default: "0",
    help: "delete readings older than N days, 0 to keep all (PostgreSQL: by whole weeks)",
  },
  {
    name: "write-queue-ms",
    value: "MS",
    default: String(DEFAULT_LIMITS.writeQueueMs),
    help: "answer a write 503 + Retry-After when the writer could not take it within MS ms, " +
      "estimated from its measured rate",
  },
  {
    name: "tls-cert",
    value: "FILE",
    help: "serve HTTPS (TLS 1.2 and 1.3) with this certificate, e.g. certs/server.crt",
  },
  { name: "tls-key", value: "FILE", help: "the certificate's key, e.g. certs/server.key" },
  {
    name: "read-token-file",
    value: "FILE",
    help: "read tokens, one per line (e.g. certs/read.token): the API, /api/live and " +
      "/metrics then need Authorization: Bearer TOKEN; /healthz and the dashboard's " +
      "files stay open",
  },
  {
    name: "plaintext",
    boolean: true,
    help: "allow plain HTTP on an address other than loopback",
  },
];

const USAGE = usage(
  "server",
  `Stores readings posted by the gateway in SQLite or PostgreSQL and serves the
REST API (docs/http-api.md), the live WebSocket and the dashboard.`,
  FLAGS,
  "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.",
);

/** Parses the flags of `deno task server`. */
export function parseConfig(args: string[]): ServerConfig {
  const values = parseTable(args, FLAGS);
  const [cert, key] = [values.optional("tls-cert"), values.optional("tls-key")];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError(`Cannot serve HTTPS: --tls-cert and --tls-key go together`);
  }
  const host = values.string("host");
  assertSecureListen(host, { tls: cert !== undefined, plaintext: values.boolean("plaintext") });
  return {
    ...commonConfig(values),
    host,
    port: parsePort("port", values.string("port")),
    db: parseDb(values.string("db"), values.optional("db-password-file")),
    dbPasswordFile: values.optional("db-password-file"),
    tokenFile: values.string("token-file"),
    thresholds: values.optional("thresholds"),
    retainDays: parseNumber("retain-days", values.string("retain-days"), { min: 0, max: 36500 }),
    writeQueueMs: parseNumber("write-queue-ms", values.string("write-queue-ms"), {
      min: 1,
      max: 3_600_000,
    }),
    tls: cert === undefined || key === undefined ? undefined : { cert, key },
    readTokenFile: values.optional("read-token-file"),
  };
}

// The dashboard's files (static/ and Chart.js, read from the working
// directory, which `deno task` sets to the project's) and the writer
// thread's modules (server/, protocol/ and static/shared/).
const OWN_FILES = ["static/", "node_modules/", "server/", "protocol/"]
  .map((dir) => fileURLToPath(new URL(dir, import.meta.url)));

/**
 * What the flags need: the database's directory, the token, thresholds and
 * TLS files, the port.
 */
export function permissions(config: ServerConfig): PermissionNeed[] {
  const optional = (flag: string, path: string | undefined) =>
    path === undefined ? [] : [readAccess(flag, path)];
  return [
    ...dbAccess(config.db, config.dbPasswordFile),
    readAccess("token-file", config.tokenFile),
    ...optional("thresholds", config.thresholds),
    ...optional("read-token-file", config.readTokenFile),
    ...optional("tls-cert", config.tls?.cert),
    ...optional("tls-key", config.tls?.key),
    ...OWN_FILES.map(ownFilesAccess),
    netAccess("host", config.host, config.port),
  ];
}

/** Runs the server until `signal` aborts, then drains and closes the database. */
export async function run(config: ServerConfig, signal: AbortSignal, log: Logger): Promise<void> {
  const tls = config.tls && await readTlsFiles(config.tls.cert, config.tls.key);
  const { ingest, read } = await openTokenFiles(config.tokenFile, config.readTokenFile, {
    signal,
    log,
  });
  const thresholds = config.thresholds === undefined
    ? DEFAULT_THRESHOLDS
    : await loadThresholds(config.thresholds);
  const { files, warnings } = await loadStaticFiles();
  // Opening creates or migrates the schema. With SQLite this connection
  // then only reads: every write goes through the writer, on its own
  // thread when it can be.
  const store = await openStorage(config.db, {
    password: await readPassword(config.dbPasswordFile),
  });
  try {
    const metrics = new Metrics();
    const live = new LiveHub(store, { log, onDrop: () => metrics.liveDropped++ });
    const onCommit = (info: CommitInfo) => {
      metrics.commit(info.stored, info.duplicates, info.seconds);
      if (info.stored > 0) live.notify();
    };
    const onError = (error: unknown) =>
      log.error("store writer failed", { error: (error as Error).message });
    const writer = await store.openWriter({ onCommit, onError, log });
    // Readings other instances store (PostgreSQL) reach this one's live clients.
    const unwatch = await store.watch(() => live.notify());
    // A follower held back by a transaction that stored nothing gets no
    // notification when that transaction ends: look again every second.
    const poll = store.kind === "postgres" ? setInterval(() => live.notify(), 1_000) : undefined;
    try {
      const handler = createHandler(store, {
        token: ingest,
        readTokens: read,
        thresholds,
        staticFiles: files,
        writer,
        live,
        metrics,
        limits: { writeQueueMs: config.writeQueueMs },
        signal,
        log,
      });
      const served = serveUntilAborted(handler, {
        host: config.host,
        port: config.port,
        tls,
        readTokens: read !== undefined,
        signal,
        log,
        onAbort: () => live.close(),
      });
      for (const warning of warnings) log.warn(warning);
      log.info("store open", {
        db: store.location,
        cursor: await store.newestCursor(),
        static: files.size,
        retain_days: config.retainDays,
      });
      const retention = config.retainDays > 0
        ? retainReadings(writer, config.retainDays, { signal, log, metrics })
        : Promise.resolve();
      await served;
      await retention;
    } finally {
      clearInterval(poll);
      await unwatch();
      await writer.close();
    }
  } finally {
    await store.close();
  }
  log.info("stopped");
}

/** The program, as `runMain` runs it. */
export const serverProgram: Program<ServerConfig> = {
  name: "server",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(serverProgram);
