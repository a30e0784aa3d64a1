/**
 * The systemd units in deploy/ start their programs as written. For each
 * unit, its `ExecStart=` command line runs with its environment file and
 * `Environment=` lines, every system path rewritten into a temporary root
 * (`/opt/vigia` → this checkout, `/usr/local/bin/deno` → this Deno,
 * `/etc`, `/var/lib` → temporary directories); then SIGTERM goes to its
 * whole process group, as systemd sends it to the unit's control group,
 * and the program must stop with exit code 0. Two deviations, both to run
 * beside anything else on the machine: ports become 0, and `DENO_DIR` is
 * left as the test's own.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_process.ts";
import { runCerts } from "./_pki.ts";
import { waitUntil } from "./_link.ts";

const DEPLOY = join(ROOT, "deploy");

/** `Key=value` lines of a unit's [Service] section (repeated keys kept in order). */
function serviceLines(unit: string): [string, string][] {
  return unit.split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#") && !line.startsWith("["))
    .map((line) => {
      const at = line.indexOf("=");
      return [line.slice(0, at), line.slice(at + 1)] as [string, string];
    });
}

Deno.test("each deploy/ unit's ExecStart, with its environment file, starts and stops with 0", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "vigia-deploy-" });
  const rewrite = (text: string) =>
    text.replaceAll("/opt/vigia/", ROOT.endsWith("/") ? ROOT : `${ROOT}/`)
      .replaceAll("/opt/vigia", ROOT)
      .replaceAll("/usr/local/bin/deno", Deno.execPath())
      .replaceAll("/etc/", `${root}/etc/`)
      .replaceAll("/var/", `${root}/var/`);
  try {
    await Deno.mkdir(join(root, "etc/vigia"), { recursive: true });
    const certs = await runCerts(join(root, "etc/vigia/certs"), ["--sensors", "1"]);
    assert.equal(certs.code, 0, new TextDecoder().decode(certs.stderr));
    const ready: Record<string, RegExp> = {
      server: /listening on 127\.0\.0\.1:\d+/,
      gateway: /listening on 127\.0\.0\.1:\d+/,
      query: /server unreachable|following/,
    };
    for (const program of ["server", "gateway", "query"]) {
      await t.step(`vigia-${program}.service`, async () => {
        const unit = serviceLines(
          await Deno.readTextFile(join(DEPLOY, `vigia-${program}.service`)),
        );
        const get = (key: string) => unit.filter(([k]) => k === key).map(([, v]) => v);
        assert.deepEqual(get("KillSignal"), ["SIGTERM"]);
        assert.deepEqual(get("Restart"), ["on-failure"]);
        assert.deepEqual(get("ProtectSystem"), ["strict"]);
        assert.equal(get("User").length, 1);
        assert.equal(get("StateDirectory").length + get("ConfigurationDirectory").length, 2);

        const env: Record<string, string> = {};
        for (const line of get("Environment")) {
          for (const pair of line.split(" ")) {
            const [key, value] = pair.split("=") as [string, string];
            env[key] = rewrite(value);
          }
        }
        delete env.DENO_DIR;
        const file = get("EnvironmentFile")[0]!;
        assert.equal(file, `/etc/vigia/${program}.env`);
        const settings = serviceLines(await Deno.readTextFile(join(DEPLOY, `${program}.env`)));
        for (const [key, value] of settings) env[key] = rewrite(value);
        for (const key of Object.keys(env)) if (key.endsWith("_PORT")) env[key] = "0";
        for (const dir of get("StateDirectory")) {
          await Deno.mkdir(join(root, "var/lib", dir), { recursive: true });
        }

        const [command, ...args] = rewrite(get("ExecStart")[0]!).split(" ");
        const child = new Deno.Command(command!, {
          args,
          cwd: rewrite(get("WorkingDirectory")[0]!),
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          detached: true,
        }).spawn();
        let output = "";
        const decoder = new TextDecoder();
        const reading = Promise.all([child.stdout, child.stderr].map(async (stream) => {
          for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
        }));
        const guard = setTimeout(() => signalGroup(child.pid, "KILL"), 40_000);
        try {
          await waitUntil(() => ready[program]!.test(output), 30_000, `${program}: ${output}`);
          // systemd signals every process of the unit's control group.
          await signalGroup(child.pid, "TERM");
          const status = await child.status;
          await reading;
          assert.equal(status.code, 0, output);
          assert.doesNotMatch(output, /ERROR|Warning/, output);
        } finally {
          clearTimeout(guard);
          await signalGroup(child.pid, "KILL");
        }
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** Sends SIGsignal to the process group `pid` leads (it was started detached, in its own). */
async function signalGroup(pid: number, signal: "TERM" | "KILL"): Promise<void> {
  await new Deno.Command("kill", { args: [`-${signal}`, "--", `-${pid}`], stderr: "null" })
    .output();
}
