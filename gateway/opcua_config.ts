/**
 * The `--opcua FILE` JSON file: the OPC UA servers the gateway subscribes
 * to, how securely, and which node feeds which quantity of which sensor.
 * Every field is checked at start; the first mistake stops the gateway with
 * exit code 2 and one line naming the file, the field and the reason:
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOpcuaConfig } from "./opcua_config.ts";
 *
 * const text = JSON.stringify({ servers: [{ name: "line-1", endpoint: "opc.tcp://127.0.0.1:4840",
 *   security: "None", sensors: [{ id: 7, temperature: { node: "ns=1;s=T" } }] }] });
 * assert.equal(parseOpcuaConfig("plant.json", text).servers[0]!.sensors[0]!.id, 7);
 * assert.throws(() => parseOpcuaConfig("plant.json", text.replace("None", "Nope")), {
 *   message: 'plant.json: servers[0].security: unknown security "Nope" (None, Sign, SignAndEncrypt)',
 * });
 * ```
 *
 * {@linkcode readOpcuaConfig} also reads the files the servers name (the
 * pinned certificate, the password), so a missing one stops the gateway at
 * start rather than at its first connection. Relative paths in the file are
 * relative to the working directory, like the gateway's own flags.
 *
 * See docs/opcua.md for the format.
 *
 * @module
 */

import { QUANTITIES, type Quantity } from "../protocol/mod.ts";
import { parseCertificate } from "./opcua_pem.ts";
import {
  type ConfigObject,
  ConfigObject as Config,
  readDeviceName,
  readPoints,
  readScaling,
  readSensorId,
  readSourceFile,
  SourceConfigError,
} from "./source_config.ts";

/** Message security modes, as the file spells them. */
export const SECURITY_MODES = ["None", "Sign", "SignAndEncrypt"] as const;
/** One of {@linkcode SECURITY_MODES}. */
export type SecurityMode = typeof SECURITY_MODES[number];

/** Security policies for `Sign` and `SignAndEncrypt`, as the file spells them. */
export const SECURITY_POLICIES = [
  "Basic256Sha256",
  "Aes128_Sha256_RsaOaep",
  "Aes256_Sha256_RsaPss",
] as const;
/** One of {@linkcode SECURITY_POLICIES}, or `None` with security `None`. */
export type SecurityPolicy = typeof SECURITY_POLICIES[number] | "None";

/** A node feeding one quantity: value = node value × scale + offset. */
export interface OpcuaPoint {
  readonly node: string;
  readonly scale: number;
  readonly offset: number;
}

/** A sensor and the nodes of its quantities (at least one). */
export interface OpcuaSensor {
  readonly id: number;
  readonly points: Readonly<Partial<Record<Quantity, OpcuaPoint>>>;
}

/** A file the configuration names: its path as written and, once read, its bytes. */
export interface NamedFile<T> {
  readonly path: string;
  /** Undefined until {@linkcode readOpcuaConfig} has read it. */
  readonly value?: T;
}

/** One OPC UA server of the file. */
export interface OpcuaServerConfig {
  readonly name: string;
  /** `opc.tcp://HOST:PORT/PATH`, as written. */
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
  readonly security: SecurityMode;
  readonly policy: SecurityPolicy;
  /** The pinned server certificate (DER); absent only with security `None`. */
  readonly serverCertificate?: NamedFile<Uint8Array>;
  /** User-name identity; anonymous when absent. The password is never logged. */
  readonly user?: { readonly name: string; readonly passwordFile: NamedFile<string> };
  readonly publishingIntervalMs: number;
  readonly sensors: readonly OpcuaSensor[];
}

/** The whole file. */
export interface OpcuaConfig {
  /** The file's path as given, for messages. */
  readonly file: string;
  readonly servers: readonly OpcuaServerConfig[];
}

const SERVER_FIELDS = [
  "name",
  "endpoint",
  "security",
  "policy",
  "serverCertificate",
  "user",
  "passwordFile",
  "publishingInterval",
  "sensors",
];
/** The port OPC UA servers listen on unless told otherwise (IANA-registered). */
const OPCUA_PORT = 4840;
// The standard string forms: numeric, string, GUID and opaque identifiers,
// with `ns=0;` implied when absent.
const NODE_ID =
  /^(?:ns=\d{1,5};)?(?:i=\d{1,10}|s=.+|g=[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/s;

/**
 * Reads and checks the file at `path` and the files it names; throws
 * {@linkcode SourceConfigError} (exit 2).
 */
export async function readOpcuaConfig(path: string): Promise<OpcuaConfig> {
  return await readOpcuaFiles(parseOpcuaConfig(path, await readSourceFile(path)));
}

/** Reads the pinned certificates and passwords a checked file names. */
async function readOpcuaFiles(config: OpcuaConfig): Promise<OpcuaConfig> {
  const servers = [];
  for (const [i, server] of config.servers.entries()) {
    const at = `servers[${i}]`;
    const { serverCertificate: certificate, user } = server;
    servers.push({
      ...server,
      ...(certificate && {
        serverCertificate: {
          path: certificate.path,
          value: await readNamed(
            config.file,
            `${at}.serverCertificate`,
            certificate.path,
            parseCertificate,
          ),
        },
      }),
      ...(user && {
        user: {
          name: user.name,
          passwordFile: {
            path: user.passwordFile.path,
            value: await readNamed(
              config.file,
              `${at}.passwordFile`,
              user.passwordFile.path,
              (bytes) => {
                // One trailing newline is the editor's, not the password's.
                const password = new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
                if (password === "") throw new Error("empty");
                return password;
              },
            ),
          },
        },
      }),
    });
  }
  return { file: config.file, servers };
}

/** The files a checked file names (pinned certificates, passwords). */
export function namedFiles(config: OpcuaConfig): string[] {
  return config.servers.flatMap((server) => [
    ...(server.serverCertificate ? [server.serverCertificate.path] : []),
    ...(server.user ? [server.user.passwordFile.path] : []),
  ]);
}

/** Checks `text`, the content of `file`, without reading the files it names. */
export function parseOpcuaConfig(file: string, text: string): OpcuaConfig {
  const root = Config.parse(file, text);
  root.allowOnly(["servers"]);
  const names = new Set<string>();
  const ids = new Set<number>();
  return { file, servers: root.array("servers").map((server) => parseServer(server, names, ids)) };
}

function parseServer(
  server: ConfigObject,
  names: Set<string>,
  ids: Set<number>,
): OpcuaServerConfig {
  server.allowOnly(SERVER_FIELDS);
  const name = readDeviceName(server, names);
  const endpoint = server.string("endpoint");
  const url = parseEndpoint(endpoint);
  if (!url) {
    server.fail("endpoint", `expected opc.tcp://HOST:PORT/PATH, got ${JSON.stringify(endpoint)}`);
  }
  const security = server.choice("security", SECURITY_MODES, "SignAndEncrypt");
  let policy: SecurityPolicy = "None";
  if (security === "None") {
    if (server.has("policy") && server.string("policy") !== "None") {
      server.fail("policy", 'must be absent or "None" with security "None"');
    }
  } else {
    policy = server.choice("policy", SECURITY_POLICIES, "Basic256Sha256");
  }
  if (security !== "None" && !server.has("serverCertificate")) {
    server.fail(
      "serverCertificate",
      `required with security "${security}" (the certificate to pin)`,
    );
  }
  if (server.has("user") !== server.has("passwordFile")) {
    server.fail(server.has("user") ? "passwordFile" : "user", "user and passwordFile go together");
  }
  if (server.has("user") && security === "None") {
    // With no secure channel the stack may send the password as it is.
    server.fail("user", 'a password needs security "Sign" or "SignAndEncrypt"');
  }
  return {
    name,
    endpoint,
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: url.port === "" ? OPCUA_PORT : Number(url.port),
    security,
    policy,
    ...(server.has("serverCertificate") &&
      { serverCertificate: { path: server.string("serverCertificate") } }),
    ...(server.has("user") && {
      user: { name: server.string("user"), passwordFile: { path: server.string("passwordFile") } },
    }),
    publishingIntervalMs: 1000 *
      server.number("publishingInterval", { min: 0.01, max: 3600, fallback: 1 }),
    sensors: server.array("sensors").map((sensor) => parseSensor(sensor, ids)),
  };
}

function parseSensor(sensor: ConfigObject, ids: Set<number>): OpcuaSensor {
  sensor.allowOnly(["id", ...QUANTITIES]);
  return { id: readSensorId(sensor, ids), points: readPoints(sensor, parsePoint) };
}

function parsePoint(point: ConfigObject): OpcuaPoint {
  point.allowOnly(["node", "scale", "offset"]);
  const node = point.string("node");
  if (!NODE_ID.test(node)) {
    point.fail(
      "node",
      `expected a node id like ns=1;s=Boiler.Temperature or ns=2;i=1001, got ${
        JSON.stringify(node)
      }`,
    );
  }
  return { node, ...readScaling(point) };
}

function parseEndpoint(value: string): URL | undefined {
  if (!value.startsWith("opc.tcp://")) return undefined;
  try {
    const url = new URL(value);
    return url.hostname !== "" && url.username === "" && url.password === "" ? url : undefined;
  } catch {
    return undefined;
  }
}

async function readNamed<T>(
  file: string,
  field: string,
  path: string,
  parse: (bytes: Uint8Array) => T,
): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error as Error).message.split("\n")[0];
    throw new SourceConfigError(file, field, `cannot read ${JSON.stringify(path)} (${detail})`);
  }
  try {
    return parse(bytes);
  } catch (error) {
    throw new SourceConfigError(
      file,
      field,
      `${JSON.stringify(path)}: ${(error as Error).message}`,
    );
  }
}
