/**
 * What the benchmarks may do: the same list as the `bench` task in
 * deno.json, passed to each benchmark `bench/run.ts` starts.
 *
 * @module
 */

/** The benchmarks' permission flags. */
export const BENCH_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net=127.0.0.1,localhost",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
];
