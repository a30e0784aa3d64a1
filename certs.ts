/**
 * `deno task certs`: the plant's PKI for the demo and the tests.
 *
 * Creates under `--out` (default `certs/`):
 *
 * - `ca.crt`, `ca.key`: the plant CA (ECDSA P-256, 10 years).
 * - `gateway.crt`, `gateway.key`: the gateway's server certificate, SAN
 *   `localhost` and `127.0.0.1`, server-auth usage.
 * - `server.crt`, `server.key`: the HTTPS certificate of `deno task server`,
 *   the same SANs plus the names of `--server-name` (the host name or
 *   address gateways and readers use), server-auth usage.
 * - `sensors/sensor-<id>.crt`, `.key` for ids 1..N: CN `sensor-<id>`,
 *   client-auth usage (5 years).
 * - `ingest.token`: 32 random bytes, base64url, the gateway's bearer token.
 * - `read.token`: the same, for readers of a server started with
 *   `--read-token-file` (dashboard, query client).
 * - `opcua/gateway.crt`, `.key`: the gateway's OPC UA application instance
 *   certificate: self-signed RSA 2048 (what the OPC UA security policies
 *   take), application URI `urn:vigia:gateway` in the subject alternative
 *   name, for a plant's OPC UA servers to trust.
 *
 * Private keys and the tokens are written with mode 0600. Existing files are
 * kept, so running it again only adds what is missing (more sensors, say);
 * `--force` regenerates everything, the CA included.
 *
 * `--sign CSR` does only that: the CA signs a sensor's certificate signing
 * request, made on the device with a key that never leaves it (tools/sign.ts).
 *
 * `--revoke ID` does only that: adds sensor ID's certificate to `crl.pem`
 * (see tools/revoke.ts), which the gateway picks up without a restart.
 *
 * Keys and certificates come from the `openssl` CLI: the tool every plant
 * engineer already trusts to inspect them, with no cryptographic code or
 * dependency of ours in between.
 *
 * Flags: `deno task certs --help` (the table is {@linkcode FLAGS}); with
 * `--revoke ID` it only revokes, with `--sign CSR` it only signs.
 *
 * Exit codes: 0 done, 1 openssl failed, a CSR was refused or a file could not
 * be written, 2 bad flags or missing permission.
 *
 * It runs past 300 lines because the flag table, the permissions and the one
 * run that creates every file belong together; the openssl steps, signing
 * and revocation are in tools/.
 *
 * @module
 */

import { dirname, join } from "node:path";
import {
  type CommonConfig,
  commonConfig,
  parseNumber,
  parseTable,
  type Program,
  runMain,
  UsageError,
} from "./lib/cli.ts";
import type { Logger } from "./lib/log.ts";
import { type Flag, usage } from "./lib/flags.ts";
import { type PermissionNeed, readAccess, readWriteAccess, runAccess } from "./lib/permissions.ts";
import {
  assertOpenssl,
  createCa,
  createLeaf,
  createOpcuaApplication,
  exists,
  ignoreNotFound,
  requireCaKey,
  subjectAltNames,
  writeAtomically,
} from "./tools/openssl.ts";
import { revokeSensor } from "./tools/revoke.ts";
import { signSensor } from "./tools/sign.ts";

/** Configuration of `deno task certs`. */
export interface CertsConfig extends CommonConfig {
  readonly out: string;
  readonly sensors: number;
  readonly force: boolean;
  /** A sensor id to revoke instead of creating anything. */
  readonly revoke: number | undefined;
  /** More names for server.crt's SAN (DNS names or IP addresses). */
  readonly serverNames: readonly string[];
  /** A sensor's CSR to sign instead of creating anything. */
  readonly sign: string | undefined;
  /** Where the signed certificate goes (default: OUT/sensors/sensor-<id>.crt). */
  readonly signOut: string | undefined;
}

/** The flags of `deno task certs`. */
export const FLAGS: readonly Flag[] = [
  { name: "out", value: "DIR", default: "certs", help: "where to write" },
  {
    name: "sensors",
    value: "N",
    default: "10",
    help: "sensor certificates sensor-1..sensor-N",
  },
  { name: "force", boolean: true, help: "regenerate everything, the CA included" },
  {
    name: "server-name",
    value: "NAME[,NAME]",
    help: "also put these host names or IP addresses in server.crt (made only when " +
      "missing: delete it to remake it)",
  },
  {
    name: "revoke",
    value: "ID",
    help: "add sensor ID's certificate to DIR/crl.pem (the gateway then refuses it, " +
      "no restart needed); creates nothing else",
  },
  {
    name: "sign",
    value: "CSR",
    help: "sign this sensor's certificate signing request (subject CN=sensor-<id>) with the " +
      "CA in DIR, writing DIR/sensors/sensor-<id>.crt; creates nothing else",
  },
  { name: "sign-out", value: "FILE", help: "with --sign, write the certificate here instead" },
];

const USAGE = usage(
  "certs",
  `Creates the plant CA, the gateway and server certificates, one client
certificate per sensor (ids 1..N), the ingest and the read token. Existing
files are kept.`,
  FLAGS,
  `Exit codes: 0 done, 1 openssl failed, a CSR was refused or a file could not be
written, 2 bad flags or permission.`,
);

const TOKEN_BYTES = 32;
const MAX_SENSORS = 100_000;

/** Parses the flags of `deno task certs`. */
export function parseConfig(args: string[]): CertsConfig {
  const values = parseTable(args, FLAGS);
  const serverNames = (values.optional("server-name") ?? "").split(",").map((name) => name.trim())
    .filter(Boolean);
  for (const name of serverNames) {
    if (!/^[A-Za-z0-9.:-]+$/.test(name)) {
      throw new UsageError(
        `Cannot parse --server-name: expected host names or IP addresses, got "${name}"`,
      );
    }
  }
  const revokeFlag = values.optional("revoke");
  const revoke = revokeFlag === undefined
    ? undefined
    : parseNumber("revoke", revokeFlag, { min: 0, max: 0xffff_ffff, integer: true });
  if (revoke !== undefined && values.boolean("force")) {
    throw new UsageError("Cannot combine --revoke with --force: --force would replace the CA");
  }
  const sign = values.optional("sign");
  const signOut = values.optional("sign-out");
  if (sign !== undefined && values.boolean("force")) {
    throw new UsageError("Cannot combine --sign with --force: --force would replace the CA");
  }
  if (sign !== undefined && revoke !== undefined) {
    throw new UsageError("Cannot combine --sign with --revoke: run them one at a time");
  }
  if (signOut !== undefined && sign === undefined) {
    throw new UsageError("Cannot use --sign-out without --sign CSR");
  }
  return {
    ...commonConfig(values),
    out: values.string("out"),
    sensors: parseNumber("sensors", values.string("sensors"), {
      min: 1,
      max: MAX_SENSORS,
      integer: true,
    }),
    force: values.boolean("force"),
    revoke,
    serverNames,
    sign,
    signOut,
  };
}

/** The files of a certs directory, by role. */
export interface CertsPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly gatewayCert: string;
  readonly gatewayKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** The revocation list the gateway reads, and openssl's CA database behind it. */
  readonly crl: string;
  readonly crlDir: string;
  readonly sensorsDir: string;
  readonly sensorCert: (id: number) => string;
  readonly sensorKey: (id: number) => string;
  readonly token: string;
  readonly readToken: string;
  readonly opcuaCert: string;
  readonly opcuaKey: string;
}

/** The application URI in the gateway's OPC UA certificate. */
export const OPCUA_APPLICATION_URI = "urn:vigia:gateway";

/** Where each file of a certs directory lives. */
export function certsPaths(out: string): CertsPaths {
  return {
    caCert: join(out, "ca.crt"),
    caKey: join(out, "ca.key"),
    gatewayCert: join(out, "gateway.crt"),
    gatewayKey: join(out, "gateway.key"),
    serverCert: join(out, "server.crt"),
    serverKey: join(out, "server.key"),
    crl: join(out, "crl.pem"),
    crlDir: join(out, "crl"),
    sensorsDir: join(out, "sensors"),
    sensorCert: (id: number) => join(out, "sensors", `sensor-${id}.crt`),
    sensorKey: (id: number) => join(out, "sensors", `sensor-${id}.key`),
    token: join(out, "ingest.token"),
    readToken: join(out, "read.token"),
    opcuaCert: join(out, "opcua", "gateway.crt"),
    opcuaKey: join(out, "opcua", "gateway.key"),
  };
}

/** What the flags need: the output directory, the openssl command, the CSR to sign and --sign-out's directory. */
export function permissions(config: CertsConfig): PermissionNeed[] {
  return [
    ...readWriteAccess("out", config.out),
    runAccess("out", "openssl"),
    ...(config.sign === undefined ? [] : [readAccess("sign", config.sign)]),
    ...(config.signOut === undefined ? [] : readWriteAccess("sign-out", dirname(config.signOut))),
  ];
}

/** Creates whatever is missing (everything with `--force`). */
export async function run(config: CertsConfig, signal: AbortSignal, log: Logger): Promise<void> {
  await assertOpenssl();
  const paths = certsPaths(config.out);
  if (config.revoke !== undefined) return await revokeSensor(paths, config.revoke, log);
  if (config.sign !== undefined) return await signSensor(paths, config.sign, config.signOut, log);
  if (config.force) {
    await removeGenerated(config.out);
  }
  await Deno.mkdir(paths.sensorsDir, { recursive: true });

  const created: string[] = [];
  if (!(await exists(paths.caCert))) {
    const orphans = (await exists(paths.gatewayCert)) || (await exists(paths.serverCert)) ||
      (await listSensorCerts(paths.sensorsDir)) > 0;
    if (orphans) {
      throw new UsageError(
        `Cannot create a new CA: ${paths.caCert} is missing but certificates signed by the old one remain; ` +
          `run with --force to regenerate everything`,
      );
    }
    await createCa(paths.caCert, paths.caKey);
    created.push("CA");
  }
  const signer = { cert: paths.caCert, key: paths.caKey };
  const servers = [
    { role: "gateway", cert: paths.gatewayCert, key: paths.gatewayKey, names: [] },
    { role: "server", cert: paths.serverCert, key: paths.serverKey, names: config.serverNames },
  ];
  for (const { role, cert, key, names } of servers) {
    if ((await exists(cert)) && (await exists(key))) continue;
    await requireCaKey(paths.caKey, `the ${role} certificate`);
    await createLeaf(signer, cert, key, {
      subject: `/CN=vigia-${role}`,
      extensions: [
        `subjectAltName=${subjectAltNames(["localhost", "127.0.0.1", ...names])}`,
        "extendedKeyUsage=serverAuth",
      ],
    });
    created.push(`${role} certificate`);
  }

  const missing: number[] = [];
  for (let id = 1; id <= config.sensors; id++) {
    if (!(await exists(paths.sensorCert(id))) || !(await exists(paths.sensorKey(id)))) {
      missing.push(id);
    }
  }
  if (missing.length > 0) {
    await requireCaKey(paths.caKey, `${missing.length} sensor certificates`);
    const progress = createProgress(missing.length, log);
    await forEachConcurrently(missing, navigator.hardwareConcurrency * 2, async (id) => {
      if (signal.aborted) return;
      await createLeaf(signer, paths.sensorCert(id), paths.sensorKey(id), {
        subject: `/CN=sensor-${id}`,
        extensions: ["extendedKeyUsage=clientAuth"],
      });
      progress();
    });
    if (signal.aborted) throw new Error("interrupted; run again to finish");
    created.push(`${missing.length} sensor certificates`);
  }

  if (!(await exists(paths.opcuaCert)) || !(await exists(paths.opcuaKey))) {
    await Deno.mkdir(join(config.out, "opcua"), { recursive: true });
    await createOpcuaApplication(paths.opcuaCert, paths.opcuaKey, OPCUA_APPLICATION_URI);
    created.push("OPC UA application certificate");
  }

  const tokens = [[paths.token, "ingest token"], [paths.readToken, "read token"]] as const;
  for (const [path, what] of tokens) {
    if (await exists(path)) continue;
    const token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
    await writeAtomically(path, token + "\n", 0o600);
    created.push(what);
  }

  log.info(
    created.length > 0
      ? `created ${created.join(", ")} in ${config.out}/ (sensors 1..${config.sensors})`
      : `nothing to do: ${config.out}/ already holds the CA, gateway, server and sensors 1..${config.sensors} (--force regenerates)`,
  );
}

async function removeGenerated(out: string): Promise<void> {
  const paths = certsPaths(out);
  for (
    const path of [
      paths.caCert,
      paths.caKey,
      paths.gatewayCert,
      paths.gatewayKey,
      paths.serverCert,
      paths.serverKey,
      paths.token,
      paths.readToken,
      paths.crl,
      paths.opcuaCert,
      paths.opcuaKey,
    ]
  ) {
    await Deno.remove(path).catch(ignoreNotFound);
  }
  for (const directory of [paths.sensorsDir, paths.crlDir]) {
    await Deno.remove(directory, { recursive: true }).catch(ignoreNotFound);
  }
}

async function listSensorCerts(directory: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (entry.name.endsWith(".crt")) count++;
    }
  } catch (error) {
    ignoreNotFound(error);
  }
  return count;
}

async function forEachConcurrently<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Reports progress about every 10 %, for runs of many certificates. */
function createProgress(total: number, log: Logger): () => void {
  let done = 0;
  const step = Math.max(1, Math.ceil(total / 10));
  return () => {
    done++;
    if (total >= 50 && (done % step === 0 || done === total)) {
      log.info(`sensor certificates: ${done}/${total}`);
    }
  };
}

/** The program, as `runMain` runs it. */
export const certsProgram: Program<CertsConfig> = {
  name: "certs",
  usage: USAGE,
  flags: FLAGS,
  parseConfig,
  permissions,
  run,
};

if (import.meta.main) await runMain(certsProgram);
