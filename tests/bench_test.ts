/**
 * `deno task bench` as a user runs it: `--help` answers at once instead of
 * starting a long run, and a tiny pipeline run through real sensor, gateway
 * and server processes prints a parseable BENCH line with nothing lost or
 * duplicated. Checks that the benchmark works, not how fast this machine is.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startChild } from "../lib/child.ts";
import { BENCH_PERMISSIONS } from "../bench/permissions.ts";
import { POSTGRES_MISSING, sharedPostgres, stopSharedPostgres } from "./_postgres.ts";

/** Runs `deno task bench ARGS` to its end: exit code and output lines (stdout and stderr). */
async function bench(...args: string[]): Promise<{ code: number; stdout: string }> {
  const child = await startChild("bench/run.ts", args, { allow: BENCH_PERMISSIONS });
  const { code } = await child.status;
  return { code, stdout: child.lines().join("\n") };
}

/** The `key=value` fields of the BENCH line of one scale. */
function benchLine(stdout: string, scale: string): Map<string, string> {
  const line = stdout.split("\n").find((l) => l.startsWith(`BENCH pipeline scale=${scale} `));
  assert.ok(line, `no BENCH line for ${scale} in:\n${stdout}`);
  return new Map(line.split(" ").slice(2).map((field) => field.split("=") as [string, string]));
}

Deno.test("bench --help prints the benchmarks and their flags, and runs nothing", async () => {
  const all = await bench("--help");
  assert.equal(all.code, 0);
  assert.match(all.stdout, /pipeline\s+sensors -> TLS/);
  const pipeline = await bench("pipeline", "--", "--help");
  assert.equal(pipeline.code, 0);
  assert.match(pipeline.stdout, /--scales LIST/);
  assert.doesNotMatch(pipeline.stdout, /BENCH/);
});

Deno.test("bench names an unknown benchmark and exits 2", async () => {
  assert.equal((await bench("nope")).code, 2);
});

Deno.test("pipeline bench: a small run stores every reading once and prints its BENCH lines", async () => {
  const { code, stdout } = await bench(
    "pipeline",
    "--",
    ...["--scales", "3xrate,3xmax,3x300,3xoutage", "--runs", "1", "--seconds", "2"],
    ...["--warmup", "1", "--outage", "1", "--idle", "0"],
    // The server 20 ms away each way, through the delaying proxy (an outage restarts it behind it).
    ...["--server-delay-ms", "20"],
  );
  assert.equal(code, 0, stdout);
  assert.match(stdout, /settings: .* --server-delay-ms 20;/);
  for (const scale of ["3xrate", "3xmax", "3x300", "3xoutage"]) {
    const fields = benchLine(stdout, scale);
    assert.equal(fields.get("lost"), "0");
    assert.equal(fields.get("duplicated"), "0");
    assert.equal(fields.get("problems"), "0");
    assert.ok(Number(fields.get("stored_per_s")) > 0, `${scale} stored nothing`);
  }
  // Saturation must offer more than 3 sensors at 1 reading/s: the modes differ.
  assert.ok(
    Number(benchLine(stdout, "3xmax").get("stored_per_s")) >
      Number(benchLine(stdout, "3xrate").get("stored_per_s")),
  );
  // The fixed rate is what it says: 300/s in total, within what a 2 s window can tell.
  const fixed = Number(benchLine(stdout, "3x300").get("stored_per_s"));
  assert.ok(fixed > 200 && fixed < 400, `3x300 stored ${fixed}/s`);
  // The backlog is printed; the outage left one and it drained.
  assert.match(benchLine(stdout, "3xmax").get("spool_depth_max") ?? "", /^\d+$/);
  const outage = benchLine(stdout, "3xoutage");
  assert.ok(Number(outage.get("outage_backlog")) > 0, "the outage left a backlog");
  assert.match(outage.get("drain_s") ?? "", /^\d+\.\d$/);
  assert.match(stdout, /\| sensors \| offered \| stored\/s \|/);
  assert.match(stdout, /goals:\n {2}3x300: p99 .* ms < 100 ms: (met|MISSED)/);
});

Deno.test({
  name: "pipeline bench: failover kills one of two PostgreSQL servers and loses nothing",
  ignore: POSTGRES_MISSING !== undefined,
  fn: async () => {
    const url = await (await sharedPostgres()).createDatabase();
    const { code, stdout } = await bench(
      "pipeline",
      "--",
      ...["--scales", "3xfailover", "--runs", "1", "--seconds", "2", "--warmup", "1"],
      ...["--idle", "0", "--db", url],
    );
    assert.equal(code, 0, stdout);
    assert.match(stdout, /killed -9 the second server/);
    const fields = benchLine(stdout, "3xfailover");
    assert.equal(fields.get("lost"), "0");
    assert.equal(fields.get("duplicated"), "0");
    assert.equal(fields.get("problems"), "0");
    assert.ok(Number(fields.get("stored_per_s")) > 0, "failover stored nothing");
  },
});

Deno.test("pipeline bench: failover without --db says what it needs", async () => {
  const { code, stdout } = await bench("pipeline", "--", "--scales", "3xfailover", "--idle", "0");
  assert.notEqual(code, 0, stdout);
  assert.match(stdout, /3xfailover needs --db postgres:/);
});

Deno.test("modbus bench: a small run polls, stores and prints its BENCH line", async () => {
  const { code, stdout } = await bench(
    "modbus",
    "--",
    ...["--devices", "2", "--sensors", "3", "--hz", "5", "--seconds", "2", "--warmup", "1"],
  );
  assert.equal(code, 0, stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH modbus "));
  assert.ok(line, stdout);
  const fields = new Map(
    line.split(" ").slice(2).map((field) => field.split("=") as [string, string]),
  );
  assert.ok(Number(fields.get("polls_per_s")) > 0, line);
  assert.ok(Number(fields.get("stored_per_s")) > 0, line);
});

Deno.test("opcua bench: a small run subscribes, stores and prints its BENCH line", async () => {
  const { code, stdout } = await bench(
    "opcua",
    "--",
    ...["--nodes", "20", "--hz", "5", "--seconds", "2", "--warmup", "2"],
  );
  assert.equal(code, 0, stdout);
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH opcua "));
  assert.ok(line, stdout);
  const fields = new Map(
    line.split(" ").slice(2).map((field) => field.split("=") as [string, string]),
  );
  assert.ok(Number(fields.get("notifications_per_s")) > 0, line);
  assert.ok(Number(fields.get("stored_per_s")) > 0, line);
  assert.ok(Number(fields.get("plain_rss_mb")) < Number(fields.get("gateway_rss_mb")), line);
});

Deno.test({
  name: "pipeline bench: stop the PostgreSQL cluster of this file",
  ignore: POSTGRES_MISSING !== undefined,
  fn: stopSharedPostgres,
});
