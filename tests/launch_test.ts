/**
 * The launcher and the flag tables: flags from `VIGIA_<PROGRAM>_<FLAG>`
 * (the command line winning), `--help` derived from the table, and a
 * program started through the launcher with a path outside the project.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { envArgs, envName } from "../lib/flags.ts";
import { FLAGS as GATEWAY_FLAGS } from "../gateway.ts";
import { FLAGS as QUERY_FLAGS } from "../query.ts";
import { ROOT } from "./_process.ts";
import { testPki } from "./_pki.ts";
import { waitUntil } from "./_link.ts";

Deno.test("envName() spells VIGIA_<PROGRAM>_<FLAG>", () => {
  assert.equal(envName("gateway", "spool-max"), "VIGIA_GATEWAY_SPOOL_MAX");
  assert.equal(envName("server", "db"), "VIGIA_SERVER_DB");
});

Deno.test("envArgs() turns variables into flags placed before the command line's", () => {
  assert.deepEqual(
    envArgs("gateway", GATEWAY_FLAGS, {
      VIGIA_GATEWAY_SPOOL_MAX: "5",
      VIGIA_GATEWAY_DEBUG: "1",
      VIGIA_SERVER_DB: "not for the gateway",
      VIGIA_GATEWAY_UNKNOWN: "ignored",
    }),
    ["--spool-max=5", "--debug"],
  );
  assert.deepEqual(envArgs("query", QUERY_FLAGS, { VIGIA_QUERY_ONCE: "false" }), []);
  assert.deepEqual(envArgs("query", QUERY_FLAGS, { VIGIA_QUERY_ONCE: "maybe" }), [
    "--once=maybe",
  ]);
});

/** Runs `./deno task ARGS` with `env`; output and code, or kills it once `until` matches. */
async function task(args: string[], env: Record<string, string>, until?: RegExp) {
  const child = new Deno.Command("./deno", {
    args: ["task", ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  }));
  const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    if (until) {
      await waitUntil(() => until.test(output), 30_000, `${args.join(" ")}: ${until}`);
      child.kill("SIGTERM");
    }
    const { code } = await child.status;
    await reading;
    return { code, output };
  } finally {
    clearTimeout(killer);
  }
}

Deno.test("deno task server: --db anywhere, from the environment too, the command line winning", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-launch-" });
  try {
    const db = join(dir, "elsewhere", "r.db");
    await Deno.mkdir(join(dir, "elsewhere"));
    const { code, output } = await task(["server", "--port", "0"], {
      VIGIA_SERVER_DB: db,
      VIGIA_SERVER_TOKEN_FILE: pki.token,
      VIGIA_SERVER_PORT: "1", // the command line's --port 0 wins
    }, /store open/);
    assert.equal(code, 0, output);
    const lines = output.split("\n").filter((line) => !line.startsWith("Task "));
    assert.match(lines[0]!, /server listening on 127\.0\.0\.1:\d+$/, output);
    assert.doesNotMatch(output, /Warning|experimental|:1\b/, output);
    assert.ok((await Deno.stat(db)).isFile);

    const help = await task(["server", "--help"], {});
    assert.equal(help.code, 0);
    assert.match(
      help.output,
      /--db FILE\|URL +SQLite database, created if missing, or\s+postgres:\/\//,
    );
    assert.match(help.output, /VIGIA_SERVER_<FLAG>/);

    const bad = await task(["gateway"], { VIGIA_GATEWAY_SPOOL_MAX: "lots" });
    assert.equal(bad.code, 2, bad.output);
    assert.match(bad.output, /Cannot parse --spool-max: expected an integer, got "lots"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
