/**
 * Runs the project's programs as real processes for integration tests,
 * exactly as their tasks do (`lib/child.ts`): each with exactly the
 * permissions its flags name, plus whatever a test adds. Waits for the
 * `listening on HOST:PORT` line and keeps the output to print when a test
 * fails.
 *
 * @module
 */

import { LISTENING_LINE, startChild } from "../lib/child.ts";

export { ROOT } from "../lib/child.ts";

/** Options of {@linkcode startProgram}. */
export interface StartOptions {
  /** Extra permission flags, merged with what the program's flags need. */
  readonly allow?: readonly string[];
  /** Resolve once a line matches; by default the `listening on HOST:PORT` line. */
  readonly waitFor?: RegExp | null;
  /** How long to wait for that line, in ms (default 20 s). */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A program started by {@linkcode startProgram}. */
export interface RunningProgram extends AsyncDisposable {
  /** Host and port from the `listening on` line, when there was one. */
  readonly hostname: string;
  readonly port: number;
  /** The process id, to send a signal that does not stop it (SIGHUP). */
  readonly pid: number;
  /** Everything the program wrote to stdout and stderr so far. */
  output(): string;
  /** Lines written so far (stdout and stderr, in arrival order). */
  lines(): string[];
  /** Waits until a line matches (or throws after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** The exit status, once the process has ended. */
  readonly status: Promise<Deno.CommandStatus>;
}

/**
 * Starts `script` (`"server.ts"`) with `args` and the permissions those
 * flags need (as the task runs it, lib/child.ts), and waits until it is
 * listening.
 */
export async function startProgram(
  script: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<RunningProgram> {
  const child = await startChild(script, args, {
    ...(options.allow ? { allow: options.allow } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const timeoutMs = options.timeoutMs ?? 20_000;
  let hostname = "";
  let port = 0;
  const waitFor = options.waitFor === undefined ? LISTENING_LINE : options.waitFor;
  if (waitFor !== null) {
    try {
      const match = LISTENING_LINE.exec(await child.waitForLine(waitFor, timeoutMs));
      if (match) [hostname, port] = [match[1]!, Number(match[2])];
    } catch (error) {
      await child.stop("SIGKILL");
      throw error;
    }
  }
  return {
    hostname,
    port,
    pid: child.pid,
    output: () => child.lines().join("\n"),
    lines: () => child.lines(),
    waitForLine: (pattern, ms = timeoutMs) => child.waitForLine(pattern, ms),
    stop: (signal = "SIGTERM") => child.stop(signal),
    status: child.status,
    [Symbol.asyncDispose]: async () => {
      await child.stop("SIGKILL");
    },
  };
}
