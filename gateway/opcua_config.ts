/**
 * The `--opcua FILE` configuration: which OPC UA servers the gateway
 * subscribes to, how securely, and which node feeds which sensor quantity.
 *
 * {@linkcode parseOpcuaConfig} checks the JSON text against the table in
 * docs/opcua.md and throws a {@linkcode UsageError} (exit code 2) whose one
 * line names the file, the field and the reason:
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOpcuaConfig } from "./opcua_config.ts";
 *
 * const text = JSON.stringify({ servers: [{ name: "line-1", endpoint: "opc.tcp://127.0.0.1:4840",
 *   security: "None", sensors: [{ id: 7, temperature: { node: "ns=1;s=T" } }] }] });
 * assert.equal(parseOpcuaConfig(text, "plant.json").servers[0]!.sensors[0]!.id, 7);
 * assert.throws(() => parseOpcuaConfig(text.replace("None", "Nope"), "plant.json"),
 *   { message: 'plant.json: servers[0].security: expected None, Sign or SignAndEncrypt, got "Nope"' });
 * ```
 *
 * {@linkcode loadOpcuaConfig} also reads the files it names (the server
 * certificate, the password), so a missing one stops the gateway at start
 * rather than at the first connection. Relative paths in the file are
 * relative to the working directory, like the gateway's own flags.
 *
 * @module
 */

import { UsageError } from "../lib/cli.ts";
import { QUANTITIES, type Quantity } from "../protocol/reading.ts";
import { parseCertificate } from "./opcua_pem.ts";

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

/** One OPC UA server of the file. */
export interface OpcuaServerConfig {
  readonly name: string;
  /** `opc.tcp://HOST:PORT/PATH`, as written. */
  readonly endpoint: string;
  readonly security: SecurityMode;
  readonly policy: SecurityPolicy;
  /** The pinned server certificate; absent only with security `None`. */
  readonly serverCertificate?: { readonly path: string; readonly der: Uint8Array };
  /** User-name identity; anonymous when absent. */
  readonly user?: { readonly name: string; readonly password: string };
  readonly publishingIntervalMs: number;
  readonly sensors: readonly OpcuaSensor[];
}

/** The whole file. */
export interface OpcuaConfig {
  readonly file: string;
  readonly servers: readonly OpcuaServerConfig[];
}

/** How {@linkcode parseOpcuaConfig} reads the files the configuration names. */
export interface FileReader {
  readFile(path: string): Uint8Array;
}

const NAME = /^[a-z0-9_-]{1,64}$/;
// The standard string forms: numeric, string, GUID and opaque identifiers,
// with `ns=0;` implied when absent.
const NODE_ID =
  /^(?:ns=\d{1,5};)?(?:i=\d{1,10}|s=.+|g=[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/s;
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
const U32_MAX = 0xffff_ffff;

/** Reads and checks `path`, and the certificate and password files it names. */
export function loadOpcuaConfig(path: string): OpcuaConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    throw new UsageError(`${path}: cannot read the file: ${(error as Error).message}`);
  }
  return parseOpcuaConfig(text, path, { readFile: (file) => Deno.readFileSync(file) });
}

/**
 * Checks the JSON `text` of the file `file`. Without `reader`, the named
 * certificate and password files are not read (and left out of the result).
 */
export function parseOpcuaConfig(text: string, file: string, reader?: FileReader): OpcuaConfig {
  const fail = (field: string, reason: string): never => {
    throw new UsageError(`${file}: ${field ? `${field}: ` : ""}${reason}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail("", `not valid JSON (${(error as Error).message})`);
  }
  const root = expectObject(json, "", ["servers"], fail);
  const servers = expectArray(root.servers, "servers", fail);
  const names = new Set<string>();
  const ids = new Set<number>();
  return {
    file,
    servers: servers.map((value, i) => {
      const server = parseServer(value, `servers[${i}]`, fail, reader, ids);
      if (names.has(server.name)) fail(`servers[${i}].name`, `"${server.name}" is used twice`);
      names.add(server.name);
      return server;
    }),
  };
}

type Fail = (field: string, reason: string) => never;

function parseServer(
  value: unknown,
  at: string,
  fail: Fail,
  reader: FileReader | undefined,
  ids: Set<number>,
): OpcuaServerConfig {
  const server = expectObject(value, at, SERVER_FIELDS, fail);
  const name = expectString(server.name, `${at}.name`, fail);
  if (!NAME.test(name)) fail(`${at}.name`, `expected [a-z0-9_-]{1,64}, got ${quote(name)}`);
  const endpoint = expectString(server.endpoint, `${at}.endpoint`, fail);
  if (!isEndpoint(endpoint)) {
    fail(`${at}.endpoint`, `expected opc.tcp://HOST:PORT/PATH, got ${quote(endpoint)}`);
  }
  const security = oneOf(
    server.security ?? "SignAndEncrypt",
    SECURITY_MODES,
    `${at}.security`,
    fail,
  );
  let policy: SecurityPolicy;
  if (security === "None") {
    if (server.policy !== undefined && server.policy !== "None") {
      fail(
        `${at}.policy`,
        `must be absent or "None" with security "None", got ${quote(server.policy)}`,
      );
    }
    policy = "None";
  } else {
    policy = oneOf(server.policy ?? "Basic256Sha256", SECURITY_POLICIES, `${at}.policy`, fail);
  }
  let serverCertificate: OpcuaServerConfig["serverCertificate"];
  if (server.serverCertificate === undefined) {
    if (security !== "None") {
      fail(`${at}.serverCertificate`, `required with security "${security}"`);
    }
  } else {
    const path = expectString(server.serverCertificate, `${at}.serverCertificate`, fail);
    if (reader) {
      const bytes = readOrFail(reader, path, `${at}.serverCertificate`, fail);
      try {
        serverCertificate = { path, der: parseCertificate(bytes) };
      } catch (error) {
        fail(`${at}.serverCertificate`, `${quote(path)} is ${(error as Error).message}`);
      }
    }
  }
  let user: OpcuaServerConfig["user"];
  if ((server.user === undefined) !== (server.passwordFile === undefined)) {
    fail(
      `${at}.${server.user === undefined ? "user" : "passwordFile"}`,
      "user and passwordFile go together",
    );
  }
  if (server.user !== undefined) {
    const userName = expectString(server.user, `${at}.user`, fail);
    const path = expectString(server.passwordFile, `${at}.passwordFile`, fail);
    if (reader) {
      const bytes = readOrFail(reader, path, `${at}.passwordFile`, fail);
      // One trailing newline is the editor's, not the password's.
      const password = new TextDecoder().decode(bytes).replace(/\r?\n$/, "");
      if (password === "") fail(`${at}.passwordFile`, `${quote(path)} is empty`);
      user = { name: userName, password };
    }
  }
  const interval = server.publishingInterval ?? 1;
  if (typeof interval !== "number" || !(interval >= 0.01 && interval <= 3600)) {
    fail(`${at}.publishingInterval`, `expected seconds from 0.01 to 3600, got ${quote(interval)}`);
  }
  const sensors = expectArray(server.sensors, `${at}.sensors`, fail).map((sensor, j) =>
    parseSensor(sensor, `${at}.sensors[${j}]`, fail, ids)
  );
  return {
    name,
    endpoint,
    security,
    policy,
    ...(serverCertificate ? { serverCertificate } : {}),
    ...(user ? { user } : {}),
    publishingIntervalMs: Math.round((interval as number) * 1000),
    sensors,
  };
}

function parseSensor(value: unknown, at: string, fail: Fail, ids: Set<number>): OpcuaSensor {
  const sensor = expectObject(value, at, ["id", ...QUANTITIES], fail);
  const id = sensor.id;
  if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > U32_MAX) {
    fail(`${at}.id`, `expected an integer from 1 to ${U32_MAX}, got ${quote(id)}`);
  }
  if (ids.has(id as number)) fail(`${at}.id`, `sensor ${id} is listed twice`);
  ids.add(id as number);
  const points: Partial<Record<Quantity, OpcuaPoint>> = {};
  for (const quantity of QUANTITIES) {
    if (sensor[quantity] === undefined) continue;
    const field = `${at}.${quantity}`;
    const point = expectObject(sensor[quantity], field, ["node", "scale", "offset"], fail);
    const node = expectString(point.node, `${field}.node`, fail);
    if (!NODE_ID.test(node)) {
      fail(
        `${field}.node`,
        `expected a node id like ns=1;s=Boiler.Temperature or ns=2;i=1001, got ${quote(node)}`,
      );
    }
    points[quantity] = {
      node,
      scale: expectFinite(point.scale ?? 1, `${field}.scale`, fail),
      offset: expectFinite(point.offset ?? 0, `${field}.offset`, fail),
    };
  }
  if (Object.keys(points).length === 0) {
    fail(at, `needs at least one of ${QUANTITIES.join(", ")}`);
  }
  return { id: id as number, points };
}

function isEndpoint(value: string): boolean {
  if (!value.startsWith("opc.tcp://")) return false;
  try {
    const url = new URL(value);
    return url.hostname !== "" && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

function readOrFail(reader: FileReader, path: string, field: string, fail: Fail): Uint8Array {
  try {
    return reader.readFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : (error as Error).message.split("\n")[0];
    return fail(field, `cannot read ${quote(path)}: ${reason}`);
  }
}

function expectObject(
  value: unknown,
  field: string,
  known: readonly string[],
  fail: Fail,
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(field, `expected an object, got ${quote(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      fail(field ? `${field}.${key}` : key, `unknown field (known: ${known.join(", ")})`);
    }
  }
  return value as Record<string, unknown>;
}

function expectArray(value: unknown, field: string, fail: Fail): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    return fail(field, `expected a non-empty array, got ${quote(value)}`);
  }
  return value;
}

function expectString(value: unknown, field: string, fail: Fail): string {
  if (typeof value !== "string" || value === "") {
    return fail(field, `expected a non-empty string, got ${quote(value)}`);
  }
  return value;
}

function expectFinite(value: unknown, field: string, fail: Fail): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    return fail(field, `expected a number, got ${quote(value)}`);
  }
  return value;
}

function oneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
  fail: Fail,
): T {
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  const list = allowed.length === 3
    ? `${allowed[0]}, ${allowed[1]} or ${allowed[2]}`
    : allowed.join(", ");
  return fail(field, `expected ${list}, got ${quote(value)}`);
}

function quote(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return JSON.stringify(text.length > 80 ? text.slice(0, 77) + "..." : text);
}
