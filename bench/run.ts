/**
 * `deno task bench`: runs every benchmark as its own process, one after the
 * other so they do not compete for the two cores, and prints their figures.
 *
 * Usage: deno task bench [NAME ...]   (names: codec, server, pipeline, dashboard; default all)
 *
 * Extra flags after `--` go to every selected benchmark
 * (`deno task bench pipeline -- --runs 1`).
 *
 * @module
 */

const BENCHMARKS = {
  codec: "bench/codec.ts",
  server: "bench/server.ts",
  pipeline: "bench/pipeline.ts",
  dashboard: "bench/dashboard.ts",
} as const;
type BenchmarkName = keyof typeof BENCHMARKS;

function isBenchmarkName(name: string): name is BenchmarkName {
  return Object.hasOwn(BENCHMARKS, name);
}

const separator = Deno.args.indexOf("--");
const names = separator === -1 ? Deno.args : Deno.args.slice(0, separator);
const extra = separator === -1 ? [] : Deno.args.slice(separator + 1);
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
  const script = BENCHMARKS[name];
  try {
    await Deno.stat(script);
  } catch {
    continue; // a benchmark that has not landed yet
  }
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=bench", script, ...extra],
    stdin: "null",
  }).spawn().status;
  if (!status.success) failed++;
}
Deno.exit(failed > 0 ? 1 : 0);
