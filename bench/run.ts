/**
 * `deno task bench`: runs every benchmark as its own process, one after the
 * other so they do not compete for the two cores, and prints their figures.
 *
 * Flags: see {@linkcode USAGE}.
 *
 * @module
 */

import { BENCH_PERMISSIONS, TEST_PACKAGES } from "./permissions.ts";
import { exitIfHelpAsked } from "./usage.ts";

const BENCHMARKS = {
  codec: { script: "bench/codec.ts", about: "frames/s through the protocol codec" },
  server: {
    script: "bench/server.ts",
    about: "POST /api/data readings/s and GET latencies on a large store",
  },
  pipeline: {
    script: "bench/pipeline.ts",
    about: "sensors -> TLS -> gateway -> HTTP -> SQLite, 10 to 10,000 sensors",
  },
  dashboard: {
    script: "bench/dashboard.ts",
    about: "first render, heap and redraw cost in Chromium",
  },
  modbus: {
    script: "bench/modbus.ts",
    about: "100 Modbus devices x 10 sensors at 10 Hz -> gateway -> server",
  },
  opcua: {
    script: "bench/opcua.ts",
    about: "OPC UA server -> subscription -> gateway -> HTTP -> SQLite, 1,000 nodes at 10 Hz",
  },
} as const;
type BenchmarkName = keyof typeof BENCHMARKS;

function isBenchmarkName(name: string): name is BenchmarkName {
  return Object.hasOwn(BENCHMARKS, name);
}

const USAGE = `
Usage: deno task bench [NAME ...] [-- FLAGS]

Runs the named benchmarks one after the other (default: all, about 15 minutes):
${Object.entries(BENCHMARKS).map(([name, { about }]) => `  ${name.padEnd(11)} ${about}`).join("\n")}

FLAGS after -- go to every selected benchmark; see each one's own help:
  deno task bench pipeline -- --help
`;

const separator = Deno.args.indexOf("--");
const names = separator === -1 ? Deno.args : Deno.args.slice(0, separator);
const extra = separator === -1 ? [] : Deno.args.slice(separator + 1);
exitIfHelpAsked(USAGE, names);
const unknown = names.filter((name) => !isBenchmarkName(name));
if (unknown.length > 0) {
  const known = Object.keys(BENCHMARKS).join(", ");
  Deno.stderr.writeSync(
    new TextEncoder().encode(`bench: unknown benchmark "${unknown[0]}" (known: ${known})\n`),
  );
  Deno.exit(2);
}
const selected = names.length > 0
  ? (names as BenchmarkName[])
  : (Object.keys(BENCHMARKS) as BenchmarkName[]);

let failed = 0;
for (const name of selected) {
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...BENCH_PERMISSIONS, ...TEST_PACKAGES, BENCHMARKS[name].script, ...extra],
    stdin: "null",
  }).spawn().status;
  if (!status.success) failed++;
}
Deno.exit(failed > 0 ? 1 : 0);
