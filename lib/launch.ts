/**
 * How every program starts with exactly the permissions its flags name.
 *
 * Deno fixes a process's permissions when it starts, and the paths a program
 * needs depend on its flags (`--db /var/lib/vigia/readings.db`). So a task
 * runs the small launcher (`launch.ts`) first: it parses the program's flags
 * with the program's own `parseConfig` (environment variables included),
 * asks the program which files and hosts that configuration needs
 * (`Program.permissions`), and runs the program in a child process with
 * exactly those `--allow-*` flags and `--no-prompt`. The demo and the tests
 * start programs through the same function.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { CommonConfig, Program } from "./cli.ts";
import { envArgs } from "./flags.ts";
import { type PermissionNeed, permissionValue } from "./permissions.ts";

/** The repository root: where the programs and the dashboard's files live. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

// Literal specifiers: loading a program needs no read permission, and only
// the program asked for is loaded.
const PROGRAMS = {
  certs: async () => (await import("../certs.ts")).certsProgram,
  server: async () => (await import("../server.ts")).serverProgram,
  gateway: async () => (await import("../gateway.ts")).gatewayProgram,
  sensor: async () => (await import("../sensor.ts")).sensorProgram,
  query: async () => (await import("../query.ts")).queryProgram,
  plc: async () => (await import("../plc.ts")).plcProgram,
  opcua_server: async () => (await import("../opcua_server.ts")).opcuaServerProgram,
  demo: async () => (await import("../demo.ts")).demoProgram,
  migrate: async () => (await import("../migrate.ts")).migrateProgram,
} as const;

/** A program the launcher knows. */
export type ProgramName = keyof typeof PROGRAMS;

/** Whether `name` is a program the launcher knows. */
export function isProgramName(name: string): name is ProgramName {
  return Object.hasOwn(PROGRAMS, name);
}

/** Loads a program's module. */
export async function loadProgram(name: ProgramName): Promise<Program<CommonConfig>> {
  return await PROGRAMS[name]() as unknown as Program<CommonConfig>;
}

/**
 * The arguments of `deno` that run program `name` with `args` (plus the
 * `VIGIA_<PROGRAM>_<FLAG>` variables of `env`, put before `args` so the
 * command line wins) and exactly the permissions they need. Flags that do
 * not parse get no permission at all: the program then prints its own
 * message (or `--help`) and exits 2.
 */
export async function launchArgs(
  name: ProgramName,
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  extra: readonly string[] = [],
): Promise<string[]> {
  const program = await loadProgram(name);
  const all = [...envArgs(name, program.flags, env), ...args];
  let needs: PermissionNeed[] = [];
  try {
    needs = program.permissions(program.parseConfig([...all]));
  } catch {
    needs = [];
  }
  return ["run", "--no-prompt", ...permissionFlags(needs, extra), join(ROOT, `${name}.ts`), ...all];
}

function join(root: string, file: string): string {
  return root.endsWith("/") ? root + file : `${root}/${file}`;
}

/**
 * `--allow-read=a,b`-style flags granting `needs`, merged with `extra`
 * flags of the same form (other extra flags are kept as they are).
 */
export function permissionFlags(
  needs: readonly PermissionNeed[],
  extra: readonly string[] = [],
): string[] {
  const lists = new Map<string, Set<string>>();
  const add = (kind: string, value: string) => {
    const list = lists.get(kind) ?? new Set();
    list.add(value);
    lists.set(kind, list);
  };
  for (const need of needs) add(need.kind, permissionValue(need));
  const verbatim: string[] = [];
  for (const flag of extra) {
    const match = /^--allow-(read|write|net|run)=(.+)$/.exec(flag);
    if (!match) {
      verbatim.push(flag);
      continue;
    }
    for (const value of match[2]!.split(",")) add(match[1]!, value);
  }
  const flags = [...lists].map(([kind, values]) =>
    kind === "env" && values.has("") ? "--allow-env" : `--allow-${kind}=${[...values].join(",")}`
  );
  return [...flags, ...verbatim];
}
