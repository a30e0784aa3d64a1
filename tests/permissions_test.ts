/**
 * Least privilege, checked on the real programs: the permissions the
 * launcher gives each program for its flags (lib/launch.ts) are small (only
 * loopback, only its own files, nothing it does not use), they are enough
 * (each program starts under exactly those `--allow-*` flags), and they are needed: with
 * one permission removed, each program stops at start with exit code 2 and
 * one line naming the flag and the exact `--allow-…` to add — never a
 * stack trace, never a prompt, never a silent half-start. Flags pointing
 * outside the set fail the same way.
 *
 * Also here: secrets. The ingest token never appears in any program's
 * output, in debug or JSON logs, in error paths (a wrong token at the
 * server), or in the certs task's output.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, startProgram } from "./_process.ts";
import { launchArgs } from "../lib/launch.ts";
import { runCerts, type TestPki, testPki } from "./_pki.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  readFrames,
  startGateway,
  waitUntil,
} from "./_link.ts";
import { testReading } from "./_reading.ts";
import { delay, freePort, gatewayMetric, metricsPort } from "./_faults.ts";
import { postReadings } from "./_api.ts";

type Kind = "read" | "write" | "net" | "run" | "env" | "sys" | "ffi" | "import";

const PROGRAMS = ["server", "gateway", "sensor", "query", "certs"] as const;
type ProgramName = typeof PROGRAMS[number];

const LOOPBACK = ["127.0.0.1", "localhost"];
const STACK_LINE = /^\s+at /m;

/** The `--allow-*` flags the launcher gives `program` for `args`. */
async function launchFlags(program: ProgramName, args: readonly string[]): Promise<string[]> {
  const all = await launchArgs(program, args);
  return all.slice(2, all.indexOf(join(ROOT, `${program}.ts`)));
}

Deno.test("with its defaults, each program gets little: its own files, loopback, nothing else", async () => {
  const allowedKinds: Record<ProgramName, Kind[]> = {
    server: ["read", "write", "net"],
    gateway: ["read", "write", "net"],
    sensor: ["read", "net"],
    query: ["net"],
    certs: ["read", "write", "run"],
  };
  for (const program of PROGRAMS) {
    for (const flag of await launchFlags(program, [])) {
      const match = /^--allow-([a-z]+)=(.+)$/.exec(flag);
      assert.ok(match, `${program}: ${flag} is a list, not all`);
      const kind = match[1] as Kind;
      assert.ok(allowedKinds[program].includes(kind), `${program} needs no ${kind} permission`);
      for (const entry of match[2]!.split(",")) {
        if (kind === "net") assert.ok(LOOPBACK.includes(entry.replace(/:\d+$/, "")), entry);
        else if (kind === "run") assert.equal(entry, "openssl", `${program} runs only openssl`);
        else if (!entry.startsWith(ROOT)) {
          assert.ok(
            !entry.startsWith("/") && !entry.includes(".."),
            `${program}: ${kind} ${entry}`,
          );
          assert.ok(entry !== "." && entry !== "", `${program}: ${kind} of the whole repository`);
        }
        if (kind === "write") {
          assert.equal(entry, program === "certs" ? "certs" : "data", `${program} writes ${entry}`);
        }
      }
    }
  }
});

Deno.test("a path named by a flag is granted, and nothing beyond it", async () => {
  const flags = await launchFlags("server", ["--db", "/tmp/elsewhere/r.db", "--port", "0"]);
  assert.deepEqual(flags, [
    `--allow-read=/tmp/elsewhere,certs/ingest.token,${
      ["static/", "node_modules/", "server/", "protocol/"].map((dir) => join(ROOT, dir))
    }`,
    "--allow-write=/tmp/elsewhere",
    "--allow-net=127.0.0.1",
  ]);
  const gateway = await launchFlags("gateway", [
    "--spool",
    "/var/spool/vigia/spool.db",
    "--certs",
    "/etc/vigia/certs",
    "--server",
    "https://192.0.2.10",
  ]);
  assert.deepEqual(gateway, [
    "--allow-read=/etc/vigia/certs,/var/spool/vigia",
    "--allow-write=/var/spool/vigia",
    "--allow-net=127.0.0.1:8443,192.0.2.10:443",
  ]);
});

/** The launcher's flags for `program` and `args`, without the `drop` kinds and `dropPaths`. */
async function allowFlags(
  program: ProgramName,
  args: readonly string[],
  drop: readonly Kind[] = [],
  dropPaths: readonly string[] = [],
): Promise<string[]> {
  const flags: string[] = [];
  for (const flag of await launchFlags(program, args)) {
    const [, kind, list] = /^--allow-([a-z]+)=(.+)$/.exec(flag)!;
    if (drop.includes(kind as Kind)) continue;
    const kept = list!.split(",").filter((entry) =>
      !dropPaths.some((path) => entry.replace(/\/$/, "").split("/").at(-1) === path)
    );
    if (kept.length > 0) flags.push(`--allow-${kind}=${kept.join(",")}`);
  }
  return flags;
}

/** Spawns `deno run --no-prompt <flags> <program>.ts <args>` (not `-P`: exactly `flags`). */
function spawnWith(
  program: ProgramName,
  flags: readonly string[],
  args: readonly string[],
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, `${program}.ts`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Runs `deno run --no-prompt <flags> <program>.ts <args>` to its end (at most 20 s). */
async function runWith(
  program: ProgramName,
  flags: readonly string[],
  args: readonly string[],
): Promise<{ code: number; output: string }> {
  const child = spawnWith(program, flags, args);
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    return { code, output: text.trim() };
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts a start-up refusal: exit 2, one line naming `--flag` and the exact permission. */
function assertRefused(
  result: { code: number; output: string },
  program: ProgramName,
  needs: RegExp,
  label: string,
): void {
  assert.equal(result.code, 2, `${label}: ${result.output}`);
  const lines = result.output.split("\n").filter((line) => line.trim() !== "");
  assert.equal(lines.length, 1, `${label}: one line, got:\n${result.output}`);
  assert.match(lines[0]!, new RegExp(`${program} ERROR fatal: Cannot start ${program}: `), label);
  assert.match(lines[0]!, needs, label);
  assert.match(lines[0]!, new RegExp(`deno task ${program} `), `${label}: says how to run it`);
  assert.doesNotMatch(result.output, STACK_LINE, label);
  assert.doesNotMatch(result.output, /NotCapable|PermissionDenied|run again with/, label);
}

/** Starts `program` under exactly `flags` and waits for `ready`; returns its output once stopped. */
async function startsWith(
  program: ProgramName,
  flags: readonly string[],
  args: readonly string[],
  ready: RegExp,
): Promise<string> {
  const child = spawnWith(program, flags, args);
  let output = "";
  const decoder = new TextDecoder();
  const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  }));
  try {
    await waitUntil(() => ready.test(output), 20_000, `${program}: ${ready}`);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await reading;
  }
  return output;
}

interface Fixture {
  readonly pki: TestPki;
  readonly dir: string;
}

/** Per program: its arguments with temporary files, and the paths they add to the set. */
function programArgs(program: ProgramName, { pki, dir }: Fixture) {
  switch (program) {
    case "server":
      return {
        args: ["--port", "0", "--db", join(dir, "readings.db"), "--token-file", pki.token],
        extra: { read: [dir, pki.token], write: [dir] },
        ready: /listening on 127\.0\.0\.1:\d+/,
      };
    case "gateway":
      return {
        args: [
          "--port",
          "0",
          "--certs",
          pki.dir,
          "--spool",
          join(dir, "spool.db"),
          "--server",
          "http://127.0.0.1:9",
        ],
        extra: { read: [pki.dir, dir], write: [dir] },
        ready: /listening on 127\.0\.0\.1:\d+/,
      };
    case "sensor":
      return {
        args: ["--gateway", "127.0.0.1:9", "--certs", pki.dir, "--count", "1"],
        extra: { read: [pki.dir] },
        ready: /sending to 127\.0\.0\.1:9/,
      };
    case "query":
      return {
        args: ["--server", "http://127.0.0.1:9", "--interval", "60"],
        extra: {},
        // It got as far as the network (port 9 answers nothing).
        ready: /query WARN server unreachable/,
      };
    case "certs":
      return {
        args: ["--out", join(dir, "certs"), "--sensors", "1"],
        extra: { read: [join(dir, "certs")], write: [join(dir, "certs")] },
        ready: /created/,
      };
  }
}

Deno.test("each program runs under exactly the launcher's flags and stops with one clear line when a permission is missing", async (t) => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-permissions-" });
  const fixture = { pki, dir };
  let refusals = 0;
  try {
    await t.step("the set is enough: every program starts under exactly its flags", async () => {
      for (const program of PROGRAMS) {
        const { args, ready } = programArgs(program, fixture);
        const output = await startsWith(program, await allowFlags(program, args), args, ready);
        assert.doesNotMatch(output, /NotCapable|Requires .* access|WARN .*allow-/, output);
      }
    });

    await t.step(
      "one permission kind removed: exit 2 naming the flag and the permission",
      async () => {
        const cases: [ProgramName, Kind, RegExp][] = [
          ["server", "net", /--host needs --allow-net=127\.0\.0\.1\b/],
          ["server", "write", /--db needs --allow-write=\/\S+/],
          [
            "server",
            "read",
            /--db, --token-file needs --allow-read=\S+ --allow-read=\S+ingest\.token/,
          ],
          [
            "gateway",
            "net",
            /--host, --server needs --allow-net=127\.0\.0\.1 --allow-net=127\.0\.0\.1:9\b/,
          ],
          ["gateway", "write", /--spool needs --allow-write=\/\S+/],
          ["gateway", "read", /--certs, --spool needs --allow-read=\S+/],
          ["sensor", "net", /--gateway needs --allow-net=127\.0\.0\.1:9\b/],
          ["sensor", "read", /--certs needs --allow-read=\S+/],
          ["query", "net", /--server needs --allow-net=127\.0\.0\.1:9\b/],
          ["certs", "write", /--out needs --allow-write=\S+/],
          ["certs", "read", /--out needs --allow-read=\S+/],
        ];
        for (const [program, kind, needs] of cases) {
          const { args } = programArgs(program, fixture);
          const result = await runWith(program, await allowFlags(program, args, [kind]), args);
          assertRefused(result, program, needs, `${program} without --allow-${kind}`);
          refusals++;
        }
      },
    );

    await t.step("certs without --allow-run says so instead of blaming openssl", async () => {
      const { args } = programArgs("certs", fixture);
      const result = await runWith("certs", await allowFlags("certs", args, ["run"]), args);
      assert.equal(result.code, 2, result.output);
      assert.equal(result.output.split("\n").length, 1, result.output);
      assert.match(result.output, /fatal: Cannot start certs: .* needs --allow-run=openssl\b/);
      assert.doesNotMatch(result.output, /not installed/);
      assert.doesNotMatch(result.output, STACK_LINE);
      refusals++;
    });

    await t.step(
      "started by hand without a flag's grant: exit 2 with the exact flag to add",
      async () => {
        const cases: [ProgramName, string[], RegExp][] = [
          [
            "server",
            ["--db", "/var/lib/vigia/readings.db"],
            /--db needs --allow-read=\/var\/lib\/vigia --allow-write=\/var\/lib\/vigia/,
          ],
          [
            "server",
            ["--host", "0.0.0.0", "--plaintext"],
            /--host needs --allow-net=0\.0\.0\.0\. /,
          ],
          [
            "server",
            ["--thresholds", "/etc/vigia/ranges.json"],
            /--thresholds needs --allow-read=\/etc\/vigia\/ranges\.json/,
          ],
          [
            "gateway",
            ["--server", "http://192.0.2.10:8080"],
            /--server needs --allow-net=192\.0\.2\.10:8080/,
          ],
          [
            "gateway",
            ["--spool", "/var/spool/vigia.db"],
            /--spool needs --allow-read=\/var\/spool --allow-write=\/var\/spool/,
          ],
          [
            "gateway",
            ["--metrics-port", "9100", "--host", "10.0.0.1"],
            /--host, --metrics-port needs --allow-net=10\.0\.0\.1 --allow-net=10\.0\.0\.1:9100\. /,
          ],
          [
            "sensor",
            ["--gateway", "192.0.2.20:8443"],
            /--gateway needs --allow-net=192\.0\.2\.20:8443/,
          ],
          [
            "sensor",
            ["--certs", "/etc/vigia/certs"],
            /--certs needs --allow-read=\/etc\/vigia\/certs/,
          ],
          [
            "query",
            ["--server", "http://192.0.2.30:8080"],
            /--server needs --allow-net=192\.0\.2\.30:8080/,
          ],
          [
            "query",
            ["--thresholds", "/etc/vigia/ranges.json"],
            /--thresholds needs --allow-read=\/etc\/vigia\/ranges\.json/,
          ],
          [
            "certs",
            ["--out", "/etc/vigia/certs"],
            /--out needs --allow-read=\/etc\/vigia\/certs --allow-write=\/etc\/vigia\/certs/,
          ],
        ];
        for (const [program, override, needs] of cases) {
          const { args } = programArgs(program, fixture);
          // Started by hand with the grant for `args` only; the later flag wins
          // (parseArgs), so the override replaces the default.
          const result = await runWith(program, await allowFlags(program, args), [
            ...args,
            ...override,
          ]);
          assertRefused(result, program, needs, `${program} ${override.join(" ")}`);
          refusals++;
        }
      },
    );

    await t.step(
      "a part of the set removed: a warning naming it, not a silent downgrade",
      async () => {
        // Without static/ the server has no dashboard; without server/ no writer thread.
        const { args, ready } = programArgs("server", fixture);
        const noStatic = await startsWith(
          "server",
          await allowFlags("server", args, [], ["static"]),
          args,
          ready,
        );
        assert.match(noStatic, /WARN no dashboard: cannot read "static"/);
        const noWorker = await startsWith(
          "server",
          await allowFlags("server", args, [], ["server"]),
          args,
          ready,
        );
        assert.match(noWorker, /WARN writer thread unavailable without --allow-read=\S+server/);
      },
    );
    await Deno.stderr.write(
      new TextEncoder().encode(`permissions: ${refusals} refusals at start, each one line\n`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the ingest token never appears in any program's output, logs or error answers", async () => {
  const pki = await testPki(2);
  const dir = await Deno.makeTempDir({ prefix: "vigia-secrets-" });
  try {
    // A gateway whose token is wrong: the server refuses it, both say so.
    const wrongCerts = join(dir, "wrong-certs");
    await Deno.mkdir(wrongCerts);
    for (const name of ["ca.crt", "gateway.crt", "gateway.key"]) {
      await Deno.copyFile(join(pki.dir, name), join(wrongCerts, name));
    }
    const wrongToken = crypto.randomUUID().replaceAll("-", "");
    await Deno.writeTextFile(join(wrongCerts, "ingest.token"), `${wrongToken}\n`);

    const serverPort = freePort();
    await using server = await startProgram("server.ts", [
      "--port",
      String(serverPort),
      "--db",
      join(dir, "readings.db"),
      "--token-file",
      pki.token,
      "--debug",
    ], { allow: [`--allow-read=${pki.dir},${dir}`, `--allow-write=${dir}`] });
    await using wrongGateway = await startProgram("gateway.ts", [
      "--port",
      "0",
      "--certs",
      wrongCerts,
      "--spool",
      join(dir, "wrong", "spool.db"),
      "--server",
      `http://127.0.0.1:${serverPort}`,
      "--debug",
      "--metrics-port",
      "0",
    ], { allow: [`--allow-read=${dir}`, `--allow-write=${dir}`] });
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${serverPort}`,
      args: ["--debug", "--metrics-port", "0"],
    });
    const wrongMetrics = await metricsPort(wrongGateway);
    for (const [target, id] of [[wrongGateway, 1], [gateway, 2]] as const) {
      const conn = await connectSensor(target.port, pki, id);
      try {
        await conn.write(encodeReadings([testReading(id, 1), testReading(id, 2)]));
        await readFrames(conn, (f) => f.some((x) => x.type === "ack" && x.seq === 2), 3_000);
      } finally {
        closeQuietly(conn);
      }
    }
    await waitUntil(
      async () => (await gatewayMetric(wrongMetrics, "forward_retries")) >= 2,
      10_000,
      "the wrong token refused",
    );
    await wrongGateway.waitForLine(/refuses the ingest token/);
    // And the sensor and query programs, with --debug.
    await using sensors = await startProgram("sensor.ts", [
      "--gateway",
      `127.0.0.1:${gateway.port}`,
      "--certs",
      pki.dir,
      "--count",
      "3",
      "--interval",
      "0.01",
      "--debug",
      "--log-json",
    ], { allow: [`--allow-read=${pki.dir}`], waitFor: /summary/ });
    await using query = await startProgram("query.ts", [
      "--server",
      `http://127.0.0.1:${serverPort}`,
      "--once",
      "--debug",
      "--log-json",
    ], { waitFor: null });
    await query.status;
    // Answers: a wrong token's 401 and the metrics pages.
    const refused = await postReadings(`http://127.0.0.1:${serverPort}`, wrongToken, []);
    const answers = [
      await refused.text(),
      await (await fetch(`http://127.0.0.1:${serverPort}/metrics`)).text(),
      await (await fetch(`http://127.0.0.1:${wrongMetrics}/metrics`)).text(),
    ];
    await delay(200);
    // The certs task's own output, making a new token.
    const certsDir = join(dir, "certs");
    const certs = await runCerts(certsDir, ["--sensors", "1", "--debug"]);
    const newToken = (await Deno.readTextFile(join(certsDir, "ingest.token"))).trim();

    const outputs: Record<string, string> = {
      server: server.output(),
      "gateway with the wrong token": wrongGateway.output(),
      gateway: gateway.output(),
      sensor: sensors.output(),
      query: query.output(),
      certs: new TextDecoder().decode(certs.stdout) + new TextDecoder().decode(certs.stderr),
      answers: answers.join("\n"),
    };
    assert.match(outputs.server!, /POST|401|request/, "the server logged the refused requests");
    for (const [name, text] of Object.entries(outputs)) {
      for (
        const [secret, value] of [
          ["ingest token", pki.tokenValue],
          ["wrong token", wrongToken],
          ["new token", newToken],
        ]
      ) {
        assert.ok(!text.includes(value!), `${name} output holds the ${secret}`);
        // Not even a long piece of it.
        assert.ok(
          !text.includes(value!.slice(0, 16)),
          `${name} output holds part of the ${secret}`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
