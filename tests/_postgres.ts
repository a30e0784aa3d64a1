/**
 * A throwaway PostgreSQL cluster (15 or later) for tests: `initdb` in a temporary
 * folder owned by the `postgres` user (initdb refuses to run as root),
 * started by `pg_ctl` on a free port of 127.0.0.1, stopped and removed by
 * {@linkcode PostgresCluster.stop}. Each test takes a fresh database of it
 * with {@linkcode PostgresCluster.createDatabase}.
 *
 * The binaries come from Debian's `postgresql` package (`.ci/run` installs
 * it). Where they are absent, {@linkcode POSTGRES_MISSING} says so and the
 * tests that need them are skipped with that message.
 *
 * The cluster runs with `fsync=off` (tests never survive a power cut, and
 * the machine is shared) and `autovacuum=off`: an autovacuum ANALYZE holds
 * a transaction id for a moment, which delays `after=` answers (by design:
 * docs/postgres.md) and would make a test that reads right after it
 * writes depend on timing.
 *
 * @module
 */

import { existsSync, readFileSync, rmSync } from "node:fs";

/** Where Debian's `postgresql` package puts its programs: the newest version installed. */
export const POSTGRES_BIN: string = (() => {
  const versions: number[] = [];
  try {
    for (const entry of Deno.readDirSync("/usr/lib/postgresql")) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch { /* not installed */ }
  return `/usr/lib/postgresql/${Math.max(15, ...versions)}/bin`;
})();

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export const POSTGRES_MISSING: string | undefined = existsSync(`${POSTGRES_BIN}/initdb`)
  ? undefined
  : `PostgreSQL is not installed (no ${POSTGRES_BIN}/initdb): apt-get install postgresql`;
if (POSTGRES_MISSING) {
  // deno-lint-ignore no-console
  console.warn(`PostgreSQL tests skipped: ${POSTGRES_MISSING}`);
}

/** The user that owns every database of the cluster (trust authentication on 127.0.0.1). */
export const POSTGRES_USER = "vigia";

/** A running cluster; see the module doc. */
export interface PostgresCluster {
  readonly port: number;
  readonly dir: string;
  /** `postgres://vigia@127.0.0.1:PORT/NAME` of a new, empty database. */
  createDatabase(): Promise<string>;
  /** Stops the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

async function run(command: string, args: string[], cwd?: string): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  if (!output.success) throw new Error(`${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Initialises and starts a cluster; stop it in a `finally`. */
export async function startPostgres(): Promise<PostgresCluster> {
  if (POSTGRES_MISSING) throw new Error(POSTGRES_MISSING);
  const dir = await Deno.makeTempDir({ prefix: "vigia-pg-" });
  const uid = Number((await run("id", ["-u", "postgres"])).trim());
  const gid = Number((await run("id", ["-g", "postgres"])).trim());
  await Deno.chown(dir, uid, gid);
  const data = `${dir}/data`;
  const asPostgres = (program: string, args: string[]) =>
    run("runuser", ["-u", "postgres", "--", `${POSTGRES_BIN}/${program}`, ...args], "/");
  let started = false;
  const stop = async () => {
    if (started) {
      started = false;
      try {
        await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } catch {
        killByPidFile(data);
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", POSTGRES_USER, "-E", "UTF8"]);
    // A port taken between freePort() and the start makes pg_ctl fail: try another.
    for (let attempt = 1;; attempt++) {
      const port = freePort();
      const options = [
        `-p ${port}`,
        `-k ${dir}`,
        "-c listen_addresses=127.0.0.1",
        "-c fsync=off",
        "-c full_page_writes=off",
        "-c autovacuum=off",
        "-c max_connections=50",
        "-c shared_buffers=64MB",
      ].join(" ");
      try {
        await asPostgres("pg_ctl", [
          "-D",
          data,
          "-o",
          options,
          "-l",
          `${dir}/log`,
          "-w",
          "-t",
          "60",
          "start",
        ]);
      } catch (error) {
        if (attempt >= 3) throw error;
        continue;
      }
      started = true;
      registerCleanup(data, dir);
      let databases = 0;
      return {
        port,
        dir,
        createDatabase: async () => {
          const name = `test_${++databases}`;
          await asPostgres("createdb", [
            "-h",
            "127.0.0.1",
            "-p",
            String(port),
            "-U",
            "vigia",
            name,
          ]);
          return `postgres://${POSTGRES_USER}@127.0.0.1:${port}/${name}`;
        },
        stop,
      };
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Sends SIGQUIT (immediate shutdown) to the postmaster named in `postmaster.pid`. */
function killByPidFile(data: string): void {
  try {
    const pid = Number(readFileSync(`${data}/postmaster.pid`, "utf8").split("\n")[0]);
    if (pid > 0) Deno.kill(pid, "SIGQUIT");
  } catch { /* not running */ }
}

// A test run that ends early (a failed assertion in a shared cluster's
// file, Ctrl-C) must not leave a postmaster behind.
function registerCleanup(data: string, dir: string): void {
  globalThis.addEventListener("unload", () => {
    if (!existsSync(`${data}/postmaster.pid`)) return;
    killByPidFile(data);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch { /* best effort */ }
  });
}

let shared: Promise<PostgresCluster> | undefined;

/**
 * One cluster shared by the tests of a file, started on first use and
 * stopped by {@linkcode stopSharedPostgres} (register it as the file's last
 * test) or, failing that, when the process exits.
 */
export function sharedPostgres(): Promise<PostgresCluster> {
  shared ??= startPostgres();
  return shared;
}

/** Stops the cluster {@linkcode sharedPostgres} started, if any. */
export async function stopSharedPostgres(): Promise<void> {
  const cluster = shared;
  shared = undefined;
  if (cluster) await (await cluster).stop();
}
