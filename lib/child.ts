/**
 * One of the project's programs running as a child process with exactly the
 * permissions its flags name (lib/launch.ts, as the tasks run it): its
 * output read line by line, a wait for a given line (the
 * `listening on HOST:PORT` one), and a stop that escalates from SIGTERM to
 * SIGKILL. Used by the demo and by the integration tests, so both start
 * programs exactly as the tasks do.
 *
 * @module
 */

import { isProgramName, launchArgs, ROOT } from "./launch.ts";

export { ROOT };

/** Which stream a line came from. */
export type StreamName = "stdout" | "stderr";

/** Options of {@linkcode startChild}. */
export interface ChildOptions {
  /**
   * Extra permission flags. For a program, an `--allow-read=` (`-write`,
   * `-net`, `-run`) list is merged with what its flags need; any other
   * script gets only these.
   */
  readonly allow?: readonly string[];
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Called with every line, as it arrives. */
  readonly onLine?: (line: string, stream: StreamName) => void;
  /** How many recent lines to keep for {@linkcode Child.lines} (default: all). */
  readonly keepLines?: number;
  /**
   * Start it in a session of its own, out of the terminal's foreground
   * group, so a Ctrl-C reaches only the parent, which then stops its
   * children in the order it chooses.
   */
  readonly detached?: boolean;
}

/** A running program. */
export interface Child {
  readonly script: string;
  readonly pid: number;
  /** Resolves when the process has exited and its output is fully read. */
  readonly status: Promise<Deno.CommandStatus>;
  /** The kept lines, oldest first. */
  lines(): string[];
  /** Resolves with the first line (kept or future) matching `pattern`; rejects on timeout or exit. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Sends `signal`; after `graceMs` without exit, SIGKILL. Resolves with the exit status. */
  stop(signal?: Deno.Signal, graceMs?: number): Promise<Deno.CommandStatus>;
  /** Sends SIGKILL now, without waiting. */
  kill(): void;
}

/** Matches a program's first log line and captures host and port. */
export const LISTENING_LINE: RegExp = /listening on (\S+):(\d+)/;

/**
 * Starts `script` (`"server.ts"`, or any script such as `"bench/run.ts"`)
 * from the repository root with `args`.
 */
export async function startChild(
  script: string,
  args: readonly string[],
  options: ChildOptions = {},
): Promise<Child> {
  const name = script.replace(/\.ts$/, "");
  const allow = options.allow ?? [];
  const process = new Deno.Command(Deno.execPath(), {
    args: isProgramName(name)
      ? await launchArgs(name, args, {}, allow)
      : ["run", "--no-prompt", ...allow, script, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    detached: options.detached ?? false,
  }).spawn();

  const keep = options.keepLines ?? Infinity;
  const kept: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const onLine = (line: string, stream: StreamName) => {
    kept.push(line);
    if (kept.length > keep) kept.shift();
    options.onLine?.(line, stream);
    for (const waiter of waiters) {
      if (waiter.pattern.test(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  const status = Promise.all([
    readLines(process.stdout, (line) => onLine(line, "stdout")),
    readLines(process.stderr, (line) => onLine(line, "stderr")),
  ]).then(() => process.status);

  const tail = () => kept.length === 0 ? "" : `; its last lines:\n${kept.slice(-20).join("\n")}`;
  const waitForLine = (pattern: RegExp, timeoutMs: number) => {
    const seen = kept.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${script}: no line matching ${pattern} within ${timeoutMs} ms${tail()}`));
      }, timeoutMs);
      waiters.add(waiter);
      status.then((exit) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(
          new Error(`${script} exited with code ${exit.code} before printing ${pattern}${tail()}`),
        );
      });
    });
  };

  const stop = async (signal: Deno.Signal = "SIGTERM", graceMs = 10_000) => {
    sendSignal(process, signal);
    const timer = setTimeout(() => sendSignal(process, "SIGKILL"), graceMs);
    try {
      return await status;
    } finally {
      clearTimeout(timer);
    }
  };

  const kill = () => sendSignal(process, "SIGKILL");
  return { script, pid: process.pid, status, lines: () => [...kept], waitForLine, stop, kill };
}

function sendSignal(process: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    process.kill(signal);
  } catch {
    // Already exited: nothing to stop.
  }
}

async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    for (const part of parts) onLine(part);
  }
  if (rest) onLine(rest);
}
