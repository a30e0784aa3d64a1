/**
 * Runs the project's programs as real processes for integration tests:
 * `deno run -P=<program>` (the task's own permission set) plus whatever a
 * test adds for its temporary files, waits for the "listening on" line,
 * and keeps the output to print only when a test fails.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The repository root, where deno.json and the programs live. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** Options of {@linkcode startProgram}. */
export interface StartOptions {
  /**
   * Extra permission flags, e.g. `--allow-read=/tmp/x` for a temporary
   * database. An `--allow-read=` or `--allow-write=` list is added to the
   * permission set's own list (on its own, Deno would replace it).
   */
  readonly allow?: readonly string[];
  /** Resolve once a stderr line matches; by default the `listening on HOST:PORT` line. */
  readonly waitFor?: RegExp | null;
  /** How long to wait for that line, in ms (default 20 s). */
  readonly timeoutMs?: number;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/** A program started by {@linkcode startProgram}. */
export interface RunningProgram extends AsyncDisposable {
  readonly process: Deno.ChildProcess;
  /** Host and port from the `listening on` line, when there was one. */
  readonly hostname: string;
  readonly port: number;
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

const LISTENING = /listening on (\S+):(\d+)/;

/**
 * Starts `script` (`"server.ts"`) under the permission set named after it,
 * with `args`, and waits until it is listening.
 */
export async function startProgram(
  script: string,
  args: readonly string[],
  options: StartOptions = {},
): Promise<RunningProgram> {
  const permissionSet = script.replace(/\.ts$/, "");
  const allow = withSetPaths(permissionSet, options.allow ?? []);
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", `-P=${permissionSet}`, ...allow, script, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
  });
  const process = command.spawn();
  const collected: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const onLine = (line: string) => {
    collected.push(line);
    for (const waiter of waiters) {
      if (waiter.pattern.test(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  const pumps = Promise.all([pumpLines(process.stdout, onLine), pumpLines(process.stderr, onLine)]);
  const status = pumps.then(() => process.status);

  const waitForLine = (pattern: RegExp, timeoutMs = options.timeoutMs ?? 20_000) => {
    const seen = collected.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = { pattern, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(
            `${script}: no line matching ${pattern} within ${timeoutMs} ms:\n${
              collected.join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      waiters.add(waiter);
      status.then((exit) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(
          new Error(
            `${script} exited (${exit.code}) before printing ${pattern}:\n${collected.join("\n")}`,
          ),
        );
      });
    });
  };

  let hostname = "";
  let port = 0;
  const waitFor = options.waitFor === undefined ? LISTENING : options.waitFor;
  if (waitFor !== null) {
    try {
      const line = await waitForLine(waitFor);
      const match = LISTENING.exec(line);
      if (match) [hostname, port] = [match[1]!, Number(match[2])];
    } catch (error) {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await status;
      throw error;
    }
  }

  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    try {
      process.kill(signal);
    } catch { /* already exited */ }
    return await status;
  };
  return {
    process,
    hostname,
    port,
    output: () => collected.join("\n"),
    lines: () => [...collected],
    waitForLine,
    stop,
    status,
    [Symbol.asyncDispose]: async () => {
      await stop("SIGKILL");
    },
  };
}

/**
 * Appends the permission set's own `read` and `write` paths to extra
 * `--allow-read=`/`--allow-write=` lists, so a test that adds its temporary
 * directory keeps everything the task itself may read (static files, the
 * server's own worker module, ...).
 */
function withSetPaths(permissionSet: string, allow: readonly string[]): string[] {
  let set: Record<string, unknown> = {};
  try {
    const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
    set = config.permissions?.[permissionSet] ?? {};
  } catch { /* no config: flags as given */ }
  return allow.map((flag) => {
    const match = /^--allow-(read|write)=(.+)$/.exec(flag);
    const own = match ? set[match[1]!] : undefined;
    if (!match || !Array.isArray(own) || own.length === 0) return flag;
    return `${flag},${own.map((path) => `${ROOT}${path}`).join(",")}`;
  });
}

async function pumpLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + text).split("\n");
    rest = parts.pop()!;
    for (const part of parts) onLine(part);
  }
  if (rest) onLine(rest);
}
