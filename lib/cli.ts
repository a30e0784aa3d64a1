/**
 * What every top-level program shares (the README's "Running each part on
 * its own"): flag parsing on `node:util` `parseArgs`, `--help`,
 * `--log-json` and `--debug`, SIGINT and SIGTERM wired to one
 * `AbortController`, and exit codes — 0 when `run` drained, 2 for bad flags
 * (reason plus a `--help` hint), 1 for a fatal error (one line; the stack
 * only with `--debug`).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Flag, type FlagValues, flagValues, parseOptions } from "./flags.ts";
import { createLogger, type Logger, writeStderr } from "./log.ts";
import { assertPermissions, type PermissionNeed } from "./permissions.ts";

/** Bad command-line input: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Flags every program accepts. */
export interface CommonConfig {
  readonly logJson: boolean;
  readonly debug: boolean;
}

/**
 * Parses `args` strictly against a program's flag table (plus `--help`,
 * `--log-json` and `--debug`); unknown flags and positionals throw
 * {@linkcode UsageError}.
 */
export function parseTable(args: readonly string[], flags: readonly Flag[]): FlagValues {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: parseOptions(flags),
      strict: true,
      allowPositionals: false,
    });
    return flagValues(flags, values);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // All of it: past its first line, parseArgs says how to pass a negative value (`--flag=-1`).
    throw new UsageError(`Cannot parse flags: ${message.split("\n").join(" ")}`);
  }
}

/** Reads the common flags out of parsed values. */
export function commonConfig(values: FlagValues): CommonConfig {
  return { logJson: values.boolean("log-json"), debug: values.boolean("debug") };
}

/** Parses a TCP port, 0 meaning "any free port". */
export function parsePort(flag: string, value: string): number {
  return parseNumber(flag, value, { min: 0, max: 65535, integer: true });
}

/** Bounds for {@linkcode parseNumber}. */
export interface NumberBounds {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** Parses a decimal number flag within bounds, or throws a `UsageError` quoting the value. */
export function parseNumber(flag: string, value: string, bounds: NumberBounds = {}): number {
  const { min = -Infinity, max = Infinity, integer = false } = bounds;
  const number = value.trim() === "" ? NaN : Number(value);
  const kind = integer ? "an integer" : "a number";
  if (!Number.isFinite(number) || (integer && !Number.isInteger(number))) {
    throw new UsageError(`Cannot parse --${flag}: expected ${kind}, got "${value}"`);
  }
  if (number < min || number > max) {
    const range = max === Infinity ? `>= ${min}` : `${min}-${max}`;
    throw new UsageError(`Cannot parse --${flag}: expected ${range}, got "${value}"`);
  }
  return number;
}

/** Parses an `http://` or `https://` base URL, without a trailing slash. */
export function parseHttpUrl(flag: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      `Cannot parse --${flag}: expected a URL like http://127.0.0.1:8080, got "${value}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`Cannot parse --${flag}: expected http:// or https://, got "${value}"`);
  }
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}

/** Parses `HOST:PORT` (an IPv6 host in brackets). */
export function parseHostPort(flag: string, value: string): { hostname: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (!match) {
    throw new UsageError(`Cannot parse --${flag}: expected HOST:PORT, got "${value}"`);
  }
  return { hostname: match[1]!.replace(/^\[|\]$/g, ""), port: parsePort(flag, match[2]!) };
}

/** A program as {@linkcode runMain} runs it. */
export interface Program<C extends CommonConfig> {
  /** Short name used in logs and messages: `"gateway"`. */
  readonly name: string;
  /** Its flag table: `VIGIA_<NAME>_<FLAG>` variables are read from it. */
  readonly flags: readonly Flag[];
  /**
   * The files and hosts `config` needs: checked at start, and what the
   * launcher grants (lib/launch.ts).
   */
  readonly permissions: (config: C) => PermissionNeed[];
  /** The `--help` text. */
  readonly usage: string;
  /** Parses flags into a config; throws `UsageError` for bad input. */
  readonly parseConfig: (args: string[]) => C;
  /**
   * Runs until `signal` aborts and everything has drained. May resolve to an
   * exit code for an outcome that is not an error (`query --once`: 1 when an
   * alarm is active); nothing means 0.
   */
  readonly run: (config: C, signal: AbortSignal, log: Logger) => Promise<void | number>;
  /** Called just before a forced exit (a second Ctrl-C): last chance to kill children. */
  readonly onForceExit?: () => void;
}

/**
 * Signals closer together than this are one request. One Ctrl-C reaches a
 * program more than once: the terminal signals its whole foreground group and
 * `deno task` (or the launcher) forwards its own copy a few ms later.
 */
export const REPEAT_WINDOW_MS = 1000;

/**
 * Runs `program` as the process's main: parses `args`, wires SIGINT and
 * SIGTERM to an abort, and exits with the contract's code. A second Ctrl-C
 * (SIGINT) pressed {@linkcode REPEAT_WINDOW_MS} or more after the first, while
 * still shutting down, exits at once with code 130.
 */
export async function runMain<C extends CommonConfig>(
  program: Program<C>,
  args: string[] = Deno.args,
): Promise<never> {
  if (args.includes("--help") || args.includes("-h")) {
    await Deno.stdout.write(new TextEncoder().encode(program.usage.trim() + "\n"));
    Deno.exit(0);
  }
  let config: C;
  try {
    config = program.parseConfig(args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    writeStderr(`${program.name}: ${message}\nRun with --help for usage.`);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
  const log = createLogger(program.name, { json: config.logJson, debug: config.debug });
  const controller = new AbortController();
  // Any repeat of the request within the window (the same Ctrl-C delivered
  // twice, a supervisor's SIGTERM after the terminal's SIGINT) is the same
  // request; only a person pressing Ctrl-C again later means "stop now".
  let firstInterrupt: number | undefined;
  const onSignal = (signal: "SIGINT" | "SIGTERM") => {
    const now = performance.now();
    if (signal === "SIGINT") {
      if (firstInterrupt !== undefined && now - firstInterrupt >= REPEAT_WINDOW_MS) {
        log.warn("second Ctrl-C: exiting without finishing the stop");
        program.onForceExit?.();
        Deno.exit(130);
      }
      firstInterrupt ??= now;
    }
    if (controller.signal.aborted) return;
    log.info("shutting down");
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));
  let code: void | number;
  try {
    assertPermissions(program.name, program.permissions(config));
    code = await program.run(config, controller.signal, log);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log.error(`fatal: ${message.split("\n")[0]}`);
    if (config.debug && error instanceof Error && error.stack) writeStderr(error.stack);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
  Deno.exit(code ?? 0);
}
