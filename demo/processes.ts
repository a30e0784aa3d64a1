/**
 * The demo's processes as a group: each child's lines printed under its
 * name, its listening address awaited, the first one to exit noticed, and
 * all of them stopped in dependency order.
 *
 * @module
 */

import { type Child, LISTENING_LINE } from "../lib/child.ts";
import type { Logger } from "../lib/log.ts";

/** How long a child may take to say it is listening (or following, or sending). */
export const START_TIMEOUT_MS = 30_000;
/** How long a child may take to stop after SIGTERM before it is killed. */
const STOP_GRACE_MS = 15_000;

/** The `HOST:PORT` of a child's `listening on` line, once it has printed it. */
export async function listeningAddress(child: Child): Promise<string> {
  const line = await child.waitForLine(LISTENING_LINE, START_TIMEOUT_MS);
  const [, host, port] = LISTENING_LINE.exec(line)!;
  return `${host}:${port}`;
}

/** Resolves with the first child to exit, or undefined once `signal` aborts. */
export async function firstExit(
  children: readonly Child[],
  signal: AbortSignal,
): Promise<{ child: Child; status: Deno.CommandStatus } | undefined> {
  const aborted = new Promise<undefined>((resolve) => {
    if (signal.aborted) resolve(undefined);
    signal.addEventListener("abort", () => resolve(undefined), { once: true });
  });
  const exits = children.map((child) => child.status.then((status) => ({ child, status })));
  return await Promise.race([aborted, ...exits]);
}

// Sensors stop first (their last readings get acknowledged), then the
// gateway (it commits, acknowledges and forwards what it holds), the
// simulated devices it polled, the query client, and the server last, so
// nothing in flight has nowhere to go.
const STOP_ORDER = [
  "sensor.ts",
  "gateway.ts",
  "plc.ts",
  "opcua_server.ts",
  "query.ts",
  "server.ts",
];

/** Stops every child in dependency order; true when all exited 0. */
export async function stopAll(children: readonly Child[], log: Logger): Promise<boolean> {
  let clean = true;
  const ordered = [...children].sort((a, b) =>
    STOP_ORDER.indexOf(a.script) - STOP_ORDER.indexOf(b.script)
  );
  for (const child of ordered) {
    const status = await child.stop("SIGTERM", STOP_GRACE_MS);
    const name = child.script.replace(/\.ts$/, "");
    if (status.signal === "SIGKILL") {
      log.warn(`${name} did not stop within ${STOP_GRACE_MS / 1000} s; killed`);
    }
    if (!status.success) clean = false;
  }
  if (clean) log.info("all components stopped cleanly");
  return clean;
}

const NAME_WIDTH = 7;
const COLORS: Readonly<Record<string, string>> = {
  certs: "\x1b[90m",
  server: "\x1b[36m",
  gateway: "\x1b[35m",
  sensor: "\x1b[32m",
  query: "\x1b[33m",
  plc: "\x1b[34m",
  opcua: "\x1b[94m",
};
/** Prefixes for programs whose name is longer than the prefix column. */
const LABELS: Readonly<Record<string, string>> = { opcua_server: "opcua" };
const useColor = Deno.stdout.isTerminal() && !Deno.noColor;
const encoder = new TextEncoder();

/** Writes `name | line` to stdout, the name (or its label) colored on a terminal. */
export function printPrefixed(program: string, line: string): void {
  const name = LABELS[program] ?? program;
  const label = name.padEnd(NAME_WIDTH);
  const prefix = useColor ? `${COLORS[name] ?? ""}${label}\x1b[0m |` : `${label} |`;
  const bytes = encoder.encode(`${prefix} ${line}\n`);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}
