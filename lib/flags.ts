/**
 * One declarative flag table per program, from which everything else is
 * derived: the `parseArgs` options, the `--help` text and the names of the
 * environment variables (`VIGIA_<PROGRAM>_<FLAG>`) that may set each flag.
 *
 * @module
 */

import type { ParseArgsConfig } from "node:util";

/** One flag of a program. */
export interface Flag {
  /** The long name, without dashes: `"spool-max"`. */
  readonly name: string;
  /** A boolean flag takes no value; by default a flag takes one. */
  readonly boolean?: boolean;
  /** The value's placeholder in `--help`: `"FILE"`. */
  readonly value?: string;
  /** The default, as it would be typed. */
  readonly default?: string;
  /** What the flag does, for `--help` (the default is appended). */
  readonly help: string;
  /** Set when the default is described rather than shown (`"built-in ranges"`). */
  readonly defaultHelp?: string;
  /** One-letter alias. */
  readonly short?: string;
  /** Repeatable (`--missing 3 --missing 7`); from the environment, comma-separated. */
  readonly multiple?: boolean;
}

/** The flags every program accepts (handled by `runMain` and `commonConfig`). */
export const COMMON_FLAGS: readonly Flag[] = [
  { name: "log-json", boolean: true, help: "log one JSON object per line" },
  { name: "debug", boolean: true, help: "log debug lines and stacks" },
];

const HELP_FLAG: Flag = { name: "help", boolean: true, short: "h", help: "show this help" };

/** The `parseArgs` options of a flag table (common flags included). */
export function parseOptions(flags: readonly Flag[]): NonNullable<ParseArgsConfig["options"]> {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const flag of [...flags, ...COMMON_FLAGS, HELP_FLAG]) {
    options[flag.name] = {
      type: flag.boolean ? "boolean" : "string",
      ...(flag.short ? { short: flag.short } : {}),
      ...(flag.multiple ? { multiple: true, default: [] } : {}),
      ...(flag.default !== undefined ? { default: flag.default } : {}),
    };
  }
  return options;
}

/** `VIGIA_SERVER_SPOOL_MAX` for program `server`, flag `spool-max`. */
export function envName(program: string, flag: string): string {
  return `VIGIA_${program}_${flag}`.toUpperCase().replaceAll("-", "_");
}

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off|)$/i;

/**
 * The command-line arguments that the `VIGIA_<PROGRAM>_<FLAG>` variables of
 * `env` stand for. They go before the real arguments, which therefore win.
 * A boolean variable is `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`;
 * anything else becomes `--flag=VALUE`, which the parser rejects by name.
 */
export function envArgs(
  program: string,
  flags: readonly Flag[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const args: string[] = [];
  for (const flag of [...flags, ...COMMON_FLAGS]) {
    const value = env[envName(program, flag.name)];
    if (value === undefined) continue;
    if (flag.multiple) args.push(...value.split(",").map((item) => `--${flag.name}=${item}`));
    else if (!flag.boolean) args.push(`--${flag.name}=${value}`);
    else if (TRUE.test(value)) args.push(`--${flag.name}`);
    else if (!FALSE.test(value)) args.push(`--${flag.name}=${value}`);
  }
  return args;
}

/** Parsed flag values, read by name (a name missing from the table throws). */
export interface FlagValues {
  /** A flag with a default, or one that must be given. */
  string(name: string): string;
  /** A flag without a default: undefined when not given. */
  optional(name: string): string | undefined;
  boolean(name: string): boolean;
  /** A repeatable flag's values, in order. */
  list(name: string): string[];
}

/** Wraps `parseArgs` values of `flags` for typed reading. */
export function flagValues(
  flags: readonly Flag[],
  values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>,
): FlagValues {
  const known = new Set([...flags, ...COMMON_FLAGS].map((flag) => flag.name));
  const get = (name: string) => {
    if (!known.has(name)) throw new Error(`no flag --${name} in the table`);
    return values[name];
  };
  return {
    string: (name) => String(get(name) ?? ""),
    optional: (name) => {
      const value = get(name);
      return value === undefined ? undefined : String(value);
    },
    boolean: (name) => get(name) === true,
    list: (name) => {
      const value = get(name);
      return Array.isArray(value) ? value.map(String) : value === undefined ? [] : [String(value)];
    },
  };
}

/**
 * The `--help` text: `summary`, then one line per flag with its default,
 * the environment variables, and `footer` (exit codes).
 */
export function usage(
  program: string,
  summary: string,
  flags: readonly Flag[],
  footer: string,
): string {
  const all = [...flags, ...COMMON_FLAGS, HELP_FLAG];
  const left = (flag: Flag) =>
    `${flag.short ? `-${flag.short}, ` : ""}--${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
  const example = flags[0]?.name ?? "log-json";
  const width = Math.max(...all.map((flag) => left(flag).length)) + 2;
  const lines = all.map((flag) => {
    const shown = flag.defaultHelp ?? flag.default;
    const help = shown === undefined ? flag.help : `${flag.help} (default: ${shown})`;
    return `  ${left(flag).padEnd(width)}${
      wrap(help, 80 - width - 2).join(`\n${" ".repeat(width + 2)}`)
    }`;
  });
  return [
    `Usage: deno task ${program} [flags]`,
    "",
    summary.trim(),
    "",
    ...lines,
    "",
    `Every flag can also be set in the environment, as ${envName(program, "")}<FLAG>`,
    `(--${example} as ${envName(program, example)}, --debug as ${
      envName(program, "debug")
    }=1); the command line wins.`,
    "",
    footer.trim(),
  ].join("\n");
}

/** Splits `text` into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}
