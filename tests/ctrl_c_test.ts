/**
 * One Ctrl-C in a real terminal stops every program cleanly. Each program
 * runs as a user starts it, `./deno task NAME ...`, under `script(1)`, which
 * gives it a pseudo-terminal; the test types Ctrl-C (byte 0x03) into it, so
 * the terminal's line discipline signals the whole foreground group and
 * `deno task` and the launcher forward their own copies, exactly as at a
 * keyboard. Each program must print its orderly stop and exit 0: after one
 * Ctrl-C, and after two typed a few ms apart.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "./_process.ts";
import { testPki } from "./_pki.ts";

const CTRL_C = new Uint8Array([3]);
const TIMEOUT_MS = 30_000;

interface Case {
  readonly args: string[];
  /** A line printed once the program runs (its signal handlers are in place). */
  readonly ready: RegExp;
  /** The orderly stop's last line. */
  readonly stopped: RegExp;
}

/**
 * Runs `./deno task NAME ARGS` in a pseudo-terminal, types Ctrl-C `presses`
 * times, 5 ms apart. script(1) hands the command to `$SHELL -c`, a
 * non-interactive shell that, unlike the interactive one at a prompt, dies
 * of the terminal's SIGINT itself when it is dash (`/bin/sh` here, and
 * script's choice when SHELL is unset) and would report 130 for a program
 * that stopped in order. `exec` makes the program the shell's process, as a
 * prompt's job is; SHELL is pinned so every machine runs the same chain.
 */
async function ctrlC(name: string, { args, ready, stopped }: Case, presses: number) {
  const command = ["exec", "./deno", "task", name, ...args].map((word) => `'${word}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qefc", command, "/dev/null"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", SHELL: "/bin/sh" },
  }).spawn();
  const killer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
  let output = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
  })();
  const stderr = new Response(child.stderr).text();
  const keyboard = child.stdin.getWriter();
  try {
    while (!ready.test(output)) {
      const status = await Promise.race([child.status, delay(20)]);
      assert.equal(status, undefined, `${name} exited before ${ready}:\n${output}`);
    }
    for (let press = 0; press < presses; press++) {
      if (press > 0) await delay(5);
      await keyboard.write(CTRL_C);
    }
    const status = await child.status;
    await reading;
    const label =
      `${name} after ${presses} Ctrl-C:\n${output}\n${await stderr}\n${await whichDeno()}`;
    assert.equal(status.code, 0, label);
    assert.match(output, stopped, label);
    assert.doesNotMatch(output, /second Ctrl-C|Requires|Allow\?/, label);
  } finally {
    clearTimeout(killer);
    await keyboard.close().catch(() => {});
  }
}

/** Which Deno `./deno` runs, for a failure's message: a wrapper in between changes the exit code. */
async function whichDeno(): Promise<string> {
  const { stdout } = await new Deno.Command("sh", {
    args: ["-c", "command -v deno; ./deno eval 'console.log(Deno.execPath(), Deno.version.deno)'"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return `deno on PATH, then what ./deno runs: ${new TextDecoder().decode(stdout)}`;
}

function delay(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms));
}

Deno.test("one Ctrl-C in a terminal stops every program and the demo with exit 0", async (t) => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-ctrl-c-" });
  const cases: Record<string, Case> = {
    server: {
      args: ["--port", "0", "--db", join(dir, "r.db"), "--token-file", pki.token],
      ready: /listening on/,
      stopped: /server stopped/,
    },
    gateway: {
      args: ["--port", "0", "--spool", join(dir, "s.db"), "--certs", pki.dir]
        .concat(["--server", "http://127.0.0.1:9"]),
      ready: /listening on/,
      stopped: /gateway stopped/,
    },
    sensor: {
      args: ["--gateway", "127.0.0.1:9", "--certs", pki.dir],
      ready: /sending to/,
      stopped: /summary sensors=1 /,
    },
    query: {
      args: ["--server", "http://127.0.0.1:9", "--interval", "60"],
      ready: /server unreachable/,
      stopped: /shutting down/,
    },
    demo: {
      args: ["--port", "0", "--gateway-port", "0", "--sensors", "1", "--query-interval", "60"]
        .concat(["--certs", join(dir, "certs"), "--data", join(dir, "data")]),
      ready: /Ctrl-C stops/,
      stopped: /all components stopped cleanly/,
    },
  };
  try {
    for (const [name, test] of Object.entries(cases)) {
      await t.step(`${name}: one Ctrl-C, three times; two Ctrl-C 5 ms apart`, async () => {
        for (let run = 0; run < 3; run++) await ctrlC(name, test, 1);
        await ctrlC(name, test, 2);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("./deno runs Deno itself when the deno on PATH is npm's Node wrapper", async () => {
  // npm's deno/bin.cjs runs Deno as a child of Node; a terminal's Ctrl-C
  // kills Node, which then reports exit 130 whatever Deno does.
  const dir = await Deno.makeTempDir({ prefix: "vigia-deno-wrapper-" });
  try {
    const wrapper = join(dir, "deno");
    await Deno.writeTextFile(
      wrapper,
      "#!/usr/bin/env node\n" +
        `const r = require("child_process").spawnSync(${JSON.stringify(Deno.execPath())},` +
        ' process.argv.slice(2), { stdio: "inherit" });\nprocess.exit(r.status ?? 1);\n',
    );
    await Deno.chmod(wrapper, 0o755);
    const child = new Deno.Command("./deno", {
      args: ["eval", "console.log(Deno.ppid)"],
      cwd: ROOT,
      env: { PATH: `${dir}:${Deno.env.get("PATH")}` },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const { code, stdout } = await child.output();
    assert.equal(code, 0);
    assert.equal(
      Number(new TextDecoder().decode(stdout)),
      Deno.pid,
      "Deno's parent is not the caller",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
