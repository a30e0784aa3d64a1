/**
 * `deno task query`: the polling alert client. Follows the server's stored
 * readings and prints one line per alarm state change — never one per
 * reading — so operators can trust the list:
 *
 * ```text
 * [2026-11-24 10:21:10] ALERT sensor 7: temperature 150.61 °C above 85.00
 * [2026-11-24 10:21:40] RECOVERED sensor 7: temperature 24.10 °C back in range (-40.00…85.00)
 * [2026-11-24 10:23:00] STALE sensor 3: no reading for 62 s
 * [2026-11-24 10:25:12] RECOVERED sensor 3: reporting again
 * ```
 *
 * Times are UTC: a reading's own timestamp for the events it caused, the
 * client's clock for `STALE`. Events go to stdout (`--json`: one object per
 * line); logs, including "server unreachable", go to stderr.
 *
 * - Each poll pages through every reading stored since the previous one,
 *   by the server's storage cursor (`after=`, `X-Vigia-Cursor`), starting
 *   from the newest reading at start; see `query/poller.ts`.
 * - Ranges: `--thresholds FILE`, else the server's `/api/thresholds` (what
 *   the dashboard draws), else the built-in ones (−40…85 °C, 800…1200 hPa,
 *   0…100 % RH). An alarm clears once the value is back inside by the
 *   deadband (default 1 % of the range's width; `"deadband"` in the file).
 * - Stale: a known sensor with no new stored reading for `--stale` seconds
 *   on the client's clock.
 *
 * - Security: an `https://` server must prove itself with a certificate
 *   chaining to `--ca` (the plant CA); nothing turns that off. A server that
 *   requires a read token gets the last token of `--token-file`.
 *
 * Flags: `deno task query --help` (the table is {@linkcode FLAGS}).
 *
 * Exit codes: 0 stopped by SIGINT/SIGTERM, or `--once` found no alarm;
 * 1 `--once` found an active alarm or could not read the server, or a fatal
 * error; 2 bad flags, unreadable thresholds file or missing permission.
 *
 * @module
 */

import {
  type CommonConfig,
  commonConfig,
  parseHttpUrl,
  parseNumber,
  parseTable,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { type Flag, usage } from "./lib/flags.ts";
import { type PermissionNeed, readAccess, urlAccess } from "./lib/permissions.ts";
import { loadThresholds, type Thresholds } from "./lib/thresholds.ts";
import { readCa, serverClient } from "./lib/tls.ts";
import { readClientToken } from "./lib/token_file.ts";
import type { AlarmEvent } from "./query/alarms.ts";
import { ApiClient } from "./query/api.ts";
import { checkOnce } from "./query/once.ts";
import { formatEvent, writeStdout } from "./query/output.ts";
import { follow } from "./query/poller.ts";

/** Configuration of `deno task query`. */
export interface QueryConfig extends CommonConfig {
  /** The server's base URL. */
  readonly server: URL;
  /** Time between polls, in ms. */
  readonly intervalMs: number;
  /** One look, then exit 0 (all well) or 1 (an alarm is active). */
  readonly once: boolean;
  /** One JSON object per event instead of a human line. */
  readonly json: boolean;
  /** A thresholds file, or `undefined` for the server's ranges. */
  readonly thresholds: string | undefined;
  /** Silence before a sensor is stale, in ms; 0 disables. */
  readonly staleMs: number;
  /** The CA an `https://` server must chain to. */
  readonly ca: string;
  /** The read token's file, or `undefined` to send none. */
  readonly tokenFile: string | undefined;
}

/** The flags of `deno task query`. */
export const FLAGS: readonly Flag[] = [
  { name: "server", value: "URL", default: "http://127.0.0.1:8080", help: "the server" },
  {
    name: "interval",
    value: "SECONDS",
    default: "10",
    help: "time between polls, fractions allowed",
  },
  { name: "once", boolean: true, help: "one check of the latest state, then exit (see codes)" },
  { name: "json", boolean: true, help: "one JSON object per event instead of a line" },
  {
    name: "thresholds",
    value: "FILE",
    defaultHelp: "the server's /api/thresholds, else -40..85 °C, 800..1200 hPa, 0..100 % RH",
    help: "safe ranges (JSON, see lib/thresholds.ts)",
  },
  {
    name: "stale",
    value: "SECONDS",
    default: "60",
    help: "silence before a sensor is stale; 0 disables",
  },
  {
    name: "ca",
    value: "FILE",
    default: "certs/ca.crt",
    help: "CA an https:// server must chain to; always verified",
  },
  {
    name: "token-file",
    value: "FILE",
    help: "read token for a server that requires one (the file's last line)",
  },
];

const USAGE = usage(
  "query",
  `Polls the server's readings and prints one line per alarm state change on
stdout: ALERT when a value leaves its safe range, RECOVERED when it is back
inside by the deadband, STALE when a sensor stops reporting, RECOVERED when
it reports again. Times are UTC. Logs go to stderr.`,
  FLAGS,
  `Exit codes:
  0  stopped by SIGINT/SIGTERM; with --once: no alarm active
  1  with --once: an alarm is active, or the server could not be read;
     otherwise a fatal error
  2  bad flags, unreadable thresholds file, or missing permission`,
);

/** Parses the flags of `deno task query`. */
export function parseConfig(args: string[]): QueryConfig {
  const values = parseTable(args, FLAGS);
  const interval = parseNumber("interval", values.string("interval"), { min: 0.01, max: 86_400 });
  const stale = parseNumber("stale", values.string("stale"), { min: 0, max: 30 * 86_400 });
  if (values.optional("thresholds") === "") {
    throw new UsageError(`Cannot parse --thresholds: expected a file`);
  }
  return {
    ...commonConfig(values),
    server: parseHttpUrl("server", values.string("server")),
    intervalMs: interval * 1000,
    once: values.boolean("once"),
    json: values.boolean("json"),
    thresholds: values.optional("thresholds"),
    staleMs: stale * 1000,
    ca: values.string("ca"),
    tokenFile: values.optional("token-file"),
  };
}

/** What the flags need: the server's host and port, the thresholds, CA and token files. */
export function permissions(config: QueryConfig): PermissionNeed[] {
  const needs = [urlAccess("server", config.server)];
  if (config.thresholds !== undefined) needs.push(readAccess("thresholds", config.thresholds));
  if (config.server.protocol === "https:") needs.push(readAccess("ca", config.ca));
  if (config.tokenFile !== undefined) needs.push(readAccess("token-file", config.tokenFile));
  return needs;
}

/**
 * Follows the server until `signal` aborts (resolves to nothing: exit 0),
 * or with `--once` checks once and resolves to the exit code.
 */
export async function run(
  config: QueryConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<number | void> {
  let thresholds: Thresholds | undefined;
  if (config.thresholds !== undefined) {
    try {
      thresholds = await loadThresholds(config.thresholds);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const token = config.tokenFile === undefined
    ? undefined
    : await readClientToken(config.tokenFile, "token-file");
  const http = serverClient(config.server, await readCa(config.server, config.ca));
  try {
    const client = new ApiClient(config.server, { fetch: http.fetch, token });
    const emit = (event: AlarmEvent) => writeStdout(formatEvent(event, { json: config.json }));
    const options = { staleMs: config.staleMs, thresholds, emit, log };
    if (config.once) return await checkOnce(client, signal, options);
    await follow(client, signal, { ...options, intervalMs: config.intervalMs });
  } finally {
    http.close();
  }
}

/** The program, as `runMain` runs it. */
export const queryProgram: Program<QueryConfig> = {
  name: "query",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(queryProgram);
