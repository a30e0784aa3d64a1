// deno-lint-ignore-file no-console -- a failed run prints its children's last lines
/**
 * The processes of a device-source benchmark (`bench modbus`, `bench
 * opcua`): a temporary directory with its own certificates, a server, the
 * device simulator and the gateways, each started as its task starts it.
 * {@linkcode withSourceRig} prints every child's last lines when the run
 * fails, and stops them all (the last started first) and removes the
 * directory whatever happened.
 *
 * @module
 */

import { join } from "node:path";
import { type Child, LISTENING_LINE, startChild } from "../lib/child.ts";

/** How long a child may take to say it is listening. */
const LISTEN_TIMEOUT_MS = 60_000;

/** The running processes of one benchmark and their directory. */
export class SourceRig {
  /** The run's temporary directory. */
  readonly dir: string;
  /** The plant certificates, made in {@linkcode dir}. */
  readonly certs: string;
  /** Read and write access to {@linkcode dir}, for the programs that keep files there. */
  readonly allowDir: readonly string[];
  readonly #children: Child[] = [];

  constructor(dir: string) {
    this.dir = dir;
    this.certs = join(dir, "certs");
    this.allowDir = [`--allow-read=${dir}`, `--allow-write=${dir}`];
  }

  /** Starts `script` with `args` and the extra permissions `allow`. */
  async start(script: string, args: string[], allow: readonly string[] = []): Promise<Child> {
    const child = await startChild(script, args, { allow, keepLines: 200 });
    this.#children.push(child);
    return child;
  }

  /** The port of `child`'s `listening on` line, once it has printed it. */
  async portOf(child: Child): Promise<number> {
    const line = await child.waitForLine(LISTENING_LINE, LISTEN_TIMEOUT_MS);
    return Number(LISTENING_LINE.exec(line)![2]);
  }

  /** Makes the certificates, then starts the server; resolves with its port. */
  async startServer(): Promise<{ server: Child; serverPort: number }> {
    const made = await (await startChild("certs.ts", ["--out", this.certs, "--sensors", "1"]))
      .status;
    if (!made.success) throw new Error(`certs.ts exited with ${made.code}`);
    const server = await this.start("server.ts", [
      ...["--port", "0", "--db", join(this.dir, "readings.db")],
      ...["--token-file", join(this.certs, "ingest.token")],
    ], this.allowDir);
    return { server, serverPort: await this.portOf(server) };
  }

  /**
   * Starts a gateway forwarding to the server on `serverPort`, spooling to
   * `spool` in the directory, with `/metrics` on a port of its own and
   * `args` besides; resolves once it listens, with that port.
   */
  async startGateway(
    serverPort: number,
    spool: string,
    args: string[],
  ): Promise<{ gateway: Child; metricsPort: number }> {
    const gateway = await this.start("gateway.ts", [
      ...["--port", "0", "--certs", this.certs, "--server", `http://127.0.0.1:${serverPort}`],
      ...["--spool", join(this.dir, spool), "--stats-interval", "0", "--metrics-port", "0"],
      ...args,
    ], this.allowDir);
    await this.portOf(gateway);
    const line = await gateway.waitForLine(/metrics on http:/, LISTEN_TIMEOUT_MS);
    return { gateway, metricsPort: Number(/:(\d+)\/metrics/.exec(line)![1]) };
  }

  /** Prints each child's last lines (the run failed). */
  printLastLines(): void {
    for (const child of this.#children) {
      console.error(`${child.script} last lines:\n  ${child.lines().slice(-8).join("\n  ")}`);
    }
  }

  /** Stops every child, the last started first. */
  async stopAll(): Promise<void> {
    for (const child of [...this.#children].reverse()) await child.stop("SIGTERM", 15_000);
  }
}

/** Runs `body` with a fresh rig in a directory named after `prefix`, then cleans up. */
export async function withSourceRig(
  prefix: string,
  body: (rig: SourceRig) => Promise<void>,
): Promise<void> {
  const rig = new SourceRig(await Deno.makeTempDir({ prefix }));
  try {
    await body(rig);
  } catch (error) {
    rig.printLastLines();
    throw error;
  } finally {
    await rig.stopAll();
    await Deno.remove(rig.dir, { recursive: true });
  }
}
