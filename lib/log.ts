/**
 * Logging for the four programs: one line per event on stderr, human-readable
 * by default, one JSON object per line with `--log-json`.
 *
 * Human lines read `2026-11-24T10:21:10.123Z gateway listening on 127.0.0.1:8443`;
 * warnings and errors carry their level after the program name. Fields are
 * appended as `key=value`. Never pass a secret: a log is not a safe place.
 *
 * @module
 */

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Extra structured data for a log line. */
export type LogFields = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Writes one line per event. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** One JSON object per line instead of text. */
  readonly json?: boolean;
  /** Also write `debug` lines. */
  readonly debug?: boolean;
  /** Where lines go; stderr by default. Tests pass a collector. */
  readonly write?: (line: string) => void;
}

const encoder = new TextEncoder();

/** Writes a whole line to stderr, looping because a pipe may take it in parts. */
export function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** Creates the logger of the program `name` (`"gateway"`, `"server"`, ...). */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  const write = options.write ?? writeStderr;
  const log = (level: LogLevel, message: string, fields: LogFields = {}) => {
    const time = new Date().toISOString();
    if (options.json) {
      write(JSON.stringify({ time, level, program: name, msg: message, ...fields }));
      return;
    }
    const tag = level === "info" ? "" : ` ${level.toUpperCase()}`;
    let line = `${time} ${name}${tag} ${message}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
    }
    write(line);
  };
  return {
    debug: (message, fields) => {
      if (options.debug) log("debug", message, fields);
    },
    info: (message, fields) => log("info", message, fields),
    warn: (message, fields) => log("warn", message, fields),
    error: (message, fields) => log("error", message, fields),
  };
}

function formatValue(value: string | number | boolean | null): string {
  return typeof value === "string" && /[\s"=]/.test(value) ? JSON.stringify(value) : String(value);
}

/** A {@linkcode Logger} that holds its lines back until one announces something. */
export interface HeldLogger extends Logger {
  /** Writes the held lines now (when start-up fails before the announcement). */
  release(): void;
}

/**
 * Holds every line back until a line whose message starts with `first`,
 * then writes that line, the held ones after it, and from then on passes
 * lines straight through. A program whose first line must be `listening on
 * HOST:PORT` (tests and scripts read the port from it) can so log what it
 * loaded before it listens. Held lines carry the time they are written.
 *
 * @example
 * ```ts
 * import { createLogger, holdUntil } from "./log.ts";
 * const lines: string[] = [];
 * const log = holdUntil(createLogger("gateway", { write: (l) => lines.push(l) }), "listening on ");
 * log.info("revocation list loaded");
 * log.info("listening on 127.0.0.1:8443");
 * log.info("stats");
 * if (!lines[0]!.includes("listening on") || !lines[1]!.includes("revocation")) throw new Error();
 * ```
 */
export function holdUntil(log: Logger, first: string): HeldLogger {
  let held: (() => void)[] | undefined = [];
  const release = () => {
    const lines = held ?? [];
    held = undefined;
    for (const write of lines) write();
  };
  const line = (level: keyof Logger) => (message: string, fields?: LogFields) => {
    if (held === undefined) return log[level](message, fields);
    if (!message.startsWith(first)) return void held.push(() => log[level](message, fields));
    log[level](message, fields);
    release();
  };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    release,
  };
}
