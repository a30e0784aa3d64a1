/**
 * What the benchmarks may do: the same list as the `bench` task in
 * deno.json, passed to each benchmark `bench/run.ts` starts.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** The benchmarks' permission flags. */
export const BENCH_PERMISSIONS: readonly string[] = [
  "--allow-read",
  "--allow-write",
  "--allow-net=127.0.0.1,localhost",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
];

/**
 * The test-only packages (playwright-core for the dashboard benchmark): the
 * tests' own import map and lock, so the programs' `deno.lock` never makes
 * a plain run download them. Same flags as the `test` and `check` tasks.
 */
export const TEST_PACKAGES: readonly string[] = [
  `--import-map=${fileURLToPath(new URL("../tests/import_map.json", import.meta.url))}`,
  `--lock=${fileURLToPath(new URL("../tests/deno.lock", import.meta.url))}`,
];
