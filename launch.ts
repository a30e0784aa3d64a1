/**
 * The launcher every task goes through: `deno run launch.ts PROGRAM ARGS`.
 *
 * Reads the program's flags (and its `VIGIA_<PROGRAM>_<FLAG>` variables),
 * then runs `PROGRAM.ts` in a child process with exactly the file and
 * network permissions those flags name (lib/launch.ts). Stdio is shared;
 * SIGINT and SIGTERM are passed on (the program takes a repeat within a
 * second as the same request), and so is SIGHUP, which tells the server and
 * the gateway to read their token files and revocation list again; the
 * child's exit code becomes the launcher's own.
 *
 * @module
 */

import { COMMON_FLAGS, envName } from "./lib/flags.ts";
import { isProgramName, launchArgs, loadProgram } from "./lib/launch.ts";
import { writeStderr } from "./lib/log.ts";

const [name, ...args] = Deno.args;
if (name === undefined || !isProgramName(name)) {
  writeStderr(`launch: unknown program "${name ?? ""}"`);
  Deno.exit(2);
}

const program = await loadProgram(name);
const env: Record<string, string | undefined> = {};
for (const flag of [...program.flags, ...COMMON_FLAGS]) {
  const variable = envName(name, flag.name);
  env[variable] = Deno.env.get(variable);
}

const child = new Deno.Command(Deno.execPath(), {
  args: await launchArgs(name, args, env),
  stdin: "inherit",
  stdout: "inherit",
  stderr: "inherit",
}).spawn();

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
  });
}

const status = await child.status;
Deno.exit(status.signal === null ? status.code : 128 + signalNumber(status.signal));

function signalNumber(signal: Deno.Signal): number {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal as string] ?? 1;
}
