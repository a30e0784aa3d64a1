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
 * Flags: `deno task opcua-server --help` (the table is {@linkcode FLAGS}).
 *
 * The first log line is `listening on 127.0.0.1:PORT
 * endpoint=opc.tcp://127.0.0.1:PORT/UA/Plant certificate=PATH sha256=AB:…`.
 *
 * Exit codes: 0 after SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type CommonConfig,
  commonConfig,
  parseNumber,
  parsePort,
  parseTable,
  type Program,
  runMain,
} from "./lib/cli.ts";
import { type Flag, usage } from "./lib/flags.ts";
import type { Logger } from "./lib/log.ts";
import {
  envAccess,
  netAccess,
  type PermissionNeed,
  readAccess,
  readWriteAccess,
  sysAccess,
  writeAccess,
} from "./lib/permissions.ts";
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

/** The flags of `deno task opcua-server`. */
export const FLAGS: readonly Flag[] = [
  { name: "port", value: "PORT", default: "4840", help: "listen port on 127.0.0.1, 0 = any free" },
  { name: "pki", value: "DIR", default: "data/opcua-server-pki", help: "the server's PKI folder" },
  {
    name: "trust",
    value: "FILE",
    multiple: true,
    help: "trust this client certificate, e.g. certs/opcua/gateway.crt; repeatable",
  },
  { name: "user", value: "NAME", defaultHelp: "anonymous", help: "require this user name ..." },
  { name: "password-file", value: "FILE", help: "... and the password in this file" },
  { name: "interval", value: "SECONDS", default: "1", help: "how often every value changes" },
  { name: "nodes", value: "N", default: "0", help: "extra variables ns=1;s=Sim.0 ... Sim.<N-1>" },
  { name: "seed", value: "N", default: "1", help: "seed of the drift" },
  {
    name: "first-id",
    value: "N",
    default: "2001",
    help: "sensor id of the Boiler in the --config-out file",
  },
  {
    name: "config-out",
    value: "FILE",
    help: "once listening, write the gateway's --opcua file for this server there " +
      "(SignAndEncrypt, its certificate pinned)",
  },
];

const USAGE = usage(
  "opcua-server",
  `Simulated plant OPC UA server (node-opcua-server) with drifting Boiler.*
variables under ns=1, for the demo, the tests and the benchmark.`,
  FLAGS,
  "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 fatal error, 2 bad flags or permission.",
);

/** Parses the simulated server's flags. */
export function parseConfig(args: string[]): OpcuaServerConfig {
  const values = parseTable(args, FLAGS);
  return {
    ...commonConfig(values),
    port: parsePort("port", values.string("port")),
    pki: values.string("pki"),
    trust: values.list("trust"),
    user: values.optional("user"),
    passwordFile: values.optional("password-file"),
    intervalMs: 1000 * parseNumber("interval", values.string("interval"), { min: 0.01, max: 3600 }),
    nodes: parseNumber("nodes", values.string("nodes"), { min: 0, max: 100_000, integer: true }),
    seed: parseNumber("seed", values.string("seed"), { min: 0, max: 2 ** 32 - 1, integer: true }),
    firstId: parseNumber("first-id", values.string("first-id"), {
      min: 1,
      max: 2 ** 32 - 1,
      integer: true,
    }),
    configOut: values.optional("config-out"),
  };
}

// node-opcua-server loads the standard address space from its nodeset files.
const OWN_FILES = fileURLToPath(new URL("node_modules/", import.meta.url));

/**
 * What the flags need: the PKI folder, the trusted certificates and the
 * password, the file to write, the port; and what node-opcua reads of the
 * process (environment, host name, home directory, user and group ids, the
 * network interfaces it advertises).
 */
export function permissions(config: OpcuaServerConfig): PermissionNeed[] {
  return [
    ...readWriteAccess("pki", config.pki),
    ...config.trust.map((file) => readAccess("trust", file)),
    ...(config.passwordFile === undefined
      ? []
      : [readAccess("password-file", config.passwordFile)]),
    ...(config.configOut === undefined ? [] : [writeAccess("config-out", config.configOut)]),
    readAccess("", OWN_FILES),
    netAccess("port", "127.0.0.1", config.port),
    envAccess("opcua"),
    ...(["homedir", "hostname", "uid", "gid", "networkInterfaces"] as const).map((name) =>
      sysAccess("opcua", name)
    ),
  ];
}

/** Runs the simulated server until `signal` aborts. */
export async function run(
  config: OpcuaServerConfig,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
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
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(opcuaServerProgram);
