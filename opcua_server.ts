/**
 * `deno task opcua-server`: a simulated plant OPC UA server for the demo,
 * the tests and the benchmark, on the third-party `node-opcua-server` stack.
 *
 * It serves drifting Boiler-style variables under namespace 1:
 * `ns=1;s=Boiler.Temperature` (°C), `ns=1;s=Boiler.Pressure` (hPa),
 * `ns=1;s=Boiler.Humidity` (% RH), and with `--nodes N` also
 * `ns=1;s=Sim.0` … `ns=1;s=Sim.<N-1>` (for the benchmark). Every variable
 * changes every `--interval` seconds.
 *
 * Its application certificate is self-signed and kept in its PKI folder
 * (`--pki`, created on first start, reused afterwards so a restart presents
 * the same certificate); the first log line names it so a client can pin it.
 * Client certificates are refused unless trusted: `--trust FILE` adds one
 * (the gateway's `certs/opcua/gateway.crt`) to its trust list.
 *
 * Usage: deno task opcua-server [flags]
 *
 *   --port PORT        listen port on 127.0.0.1, 0 = any free port (default 4840)
 *   --pki DIR          the server's PKI folder (default data/opcua-server-pki)
 *   --trust FILE       trust this client certificate (repeatable)
 *   --user NAME        require this user name …
 *   --password-file F  … with the password in this file (else anonymous is allowed)
 *   --interval SECONDS how often values change (default 1)
 *   --nodes N          extra Sim.i variables (default 0)
 *   --seed N           seed of the drift (default 1)
 *   --first-id N       sensor id of the Boiler in the --config-out file (default 2001)
 *   --config-out FILE  once listening, write the gateway's --opcua file there
 *
 * The first log line is `listening on 127.0.0.1:PORT
 * endpoint=opc.tcp://127.0.0.1:PORT/UA/Plant certificate=PATH sha256=AB:…`.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 fatal error, 2 bad flags.
 *
 * @module
 */

import {
  type CommonConfig,
  commonConfig,
  parseFlags,
  parseNumber,
  parsePort,
  type Program,
  runMain,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { assertPermissions, readAccess, writeAccess } from "./lib/permissions.ts";
import { type OpcuaServer, startOpcuaServer } from "./opcua/simulator.ts";

/** Configuration of the simulated OPC UA server. */
export interface OpcuaServerConfig extends CommonConfig {
  readonly port: number;
  readonly pki: string;
  readonly trust: readonly string[];
  readonly user: string | undefined;
  readonly passwordFile: string | undefined;
  readonly intervalMs: number;
  readonly nodes: number;
  readonly seed: number;
  readonly firstId: number;
  readonly configOut: string | undefined;
}

const USAGE = `
Usage: deno task opcua-server [flags]

Simulated plant OPC UA server (node-opcua-server) with drifting Boiler.*
variables under ns=1, for the demo, the tests and the benchmark.

  --port PORT          listen port on 127.0.0.1, 0 = any free port (default: 4840)
  --pki DIR            the server's PKI folder (default: data/opcua-server-pki)
  --trust FILE         trust this client certificate, e.g. certs/opcua/gateway.crt (repeatable)
  --user NAME          require this user name ...
  --password-file FILE ... and the password in this file (default: anonymous allowed)
  --interval SECONDS   how often every value changes (default: 1)
  --nodes N            extra variables ns=1;s=Sim.0 ... Sim.<N-1> (default: 0)
  --seed N             seed of the drift (default: 1)
  --first-id N         sensor id of the Boiler in the --config-out file (default: 2001)
  --config-out FILE    once listening, write the gateway's --opcua file for this
                       server there (SignAndEncrypt, its certificate pinned)
  --log-json           log one JSON object per line
  -h, --help           show this help
`;

/** Parses the simulated server's flags. */
export function parseConfig(args: string[]): OpcuaServerConfig {
  const values = parseFlags(args, {
    port: { type: "string", default: "4840" },
    pki: { type: "string", default: "data/opcua-server-pki" },
    trust: { type: "string", multiple: true, default: [] },
    user: { type: "string" },
    "password-file": { type: "string" },
    interval: { type: "string", default: "1" },
    nodes: { type: "string", default: "0" },
    seed: { type: "string", default: "1" },
    "first-id": { type: "string", default: "2001" },
    "config-out": { type: "string" },
  });
  return {
    ...commonConfig(values),
    port: parsePort("port", values.port),
    pki: values.pki,
    trust: values.trust,
    user: values.user,
    passwordFile: values["password-file"],
    intervalMs: 1000 * parseNumber("interval", values.interval, { min: 0.01, max: 3600 }),
    nodes: parseNumber("nodes", values.nodes, { min: 0, max: 100_000, integer: true }),
    seed: parseNumber("seed", values.seed, { min: 0, max: 2 ** 32 - 1, integer: true }),
    firstId: parseNumber("first-id", values["first-id"], {
      min: 1,
      max: 2 ** 32 - 1,
      integer: true,
    }),
    configOut: values["config-out"],
  };
}

/** Runs the simulated server until `signal` aborts. */
export async function run(
  config: OpcuaServerConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  assertPermissions("opcua_server", [
    readAccess("pki", config.pki),
    writeAccess("pki", config.pki),
    ...config.trust.map((file) => readAccess("trust", file)),
    ...(config.passwordFile === undefined
      ? []
      : [readAccess("password-file", config.passwordFile)]),
    ...(config.configOut === undefined ? [] : [writeAccess("config-out", config.configOut)]),
  ]);
  const password = config.passwordFile === undefined
    ? undefined
    : (await Deno.readTextFile(config.passwordFile)).trim();
  if ((config.user === undefined) !== (password === undefined)) {
    throw new Error("Cannot start: --user and --password-file go together");
  }
  const server = await startOpcuaServer({
    port: config.port,
    pki: config.pki,
    trust: config.trust,
    ...(config.user !== undefined && password !== undefined
      ? { user: { name: config.user, password } }
      : {}),
    intervalMs: config.intervalMs,
    nodes: config.nodes,
    seed: config.seed,
  });
  if (config.configOut !== undefined) {
    await Deno.writeTextFile(config.configOut, gatewayFile(server, config));
  }
  log.info(`listening on 127.0.0.1:${server.port}`, {
    endpoint: server.endpoint,
    certificate: server.certificatePath,
    sha256: server.fingerprint,
  });
  await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
  await server.stop();
}

/** The gateway's `--opcua` file for `server`: its Boiler as one sensor, its certificate pinned. */
export function gatewayFile(
  server: OpcuaServer,
  config: Pick<OpcuaServerConfig, "firstId" | "intervalMs" | "user" | "passwordFile">,
): string {
  const node = (id: string) => ({ node: `ns=1;s=${id}` });
  return JSON.stringify(
    {
      servers: [{
        name: "plant-sim",
        endpoint: server.endpoint,
        security: "SignAndEncrypt",
        serverCertificate: server.certificatePath,
        ...(config.user !== undefined && config.passwordFile !== undefined
          ? { user: config.user, passwordFile: config.passwordFile }
          : {}),
        publishingInterval: Math.min(1, config.intervalMs / 1000),
        sensors: [{
          id: config.firstId,
          temperature: node("Boiler.Temperature"),
          pressure: node("Boiler.Pressure"),
          humidity: node("Boiler.Humidity"),
        }],
      }],
    },
    null,
    2,
  ) + "\n";
}

/** The program, as `runMain` runs it. */
export const opcuaServerProgram: Program<OpcuaServerConfig> = {
  name: "opcua-server",
  usage: USAGE,
  parseConfig,
  run,
};

if (import.meta.main) await runMain(opcuaServerProgram);
