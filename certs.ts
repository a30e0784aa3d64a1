/**
 * `deno task certs`: the plant's PKI for the demo and the tests.
 *
 * Creates under `--out` (default `certs/`):
 *
 * - `ca.crt`, `ca.key`: the plant CA (ECDSA P-256, 10 years).
 * - `gateway.crt`, `gateway.key`: the gateway's server certificate, SAN
 *   `localhost` and `127.0.0.1`, server-auth usage.
 * - `sensors/sensor-<id>.crt`, `.key` for ids 1..N: CN `sensor-<id>`,
 *   client-auth usage (5 years).
 * - `ingest.token`: 32 random bytes, base64url, the gateway's bearer token.
 *
 * Private keys and the token are written with mode 0600. Existing files are
 * kept, so running it again only adds what is missing (more sensors, say);
 * `--force` regenerates everything, the CA included.
 *
 * Keys and certificates come from the `openssl` CLI: the tool every plant
 * engineer already trusts to inspect them, with no cryptographic code or
 * dependency of ours in between.
 *
 * Flags: `deno task certs --help` (the table is {@linkcode FLAGS}).
 *
 * Exit codes: 0 done, 1 openssl failed or a file could not be written,
 * 2 bad flags or missing permission.
 *
 * @module
 */

import { join } from "node:path";
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
import { type PermissionNeed, readWriteAccess, runAccess } from "./lib/permissions.ts";

/** Configuration of `deno task certs`. */
export interface CertsConfig extends CommonConfig {
  readonly out: string;
  readonly sensors: number;
  readonly force: boolean;
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
];

const USAGE = usage(
  "certs",
  `Creates the plant CA, the gateway certificate, one client certificate per
sensor (ids 1..N) and the ingest token. Existing files are kept.`,
  FLAGS,
  `Exit codes: 0 done, 1 openssl failed or a file could not be written, 2 bad flags
or permission.`,
);

const CA_DAYS = 3650;
const LEAF_DAYS = 1825;
const TOKEN_BYTES = 32;
const MAX_SENSORS = 100_000;

/** Parses the flags of `deno task certs`. */
export function parseConfig(args: string[]): CertsConfig {
  const values = parseTable(args, FLAGS);
  return {
    ...commonConfig(values),
    out: values.string("out"),
    sensors: parseNumber("sensors", values.string("sensors"), {
      min: 1,
      max: MAX_SENSORS,
      integer: true,
    }),
    force: values.boolean("force"),
  };
}

/** The files of a certs directory, by role. */
export interface CertsPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly gatewayCert: string;
  readonly gatewayKey: string;
  readonly sensorsDir: string;
  readonly sensorCert: (id: number) => string;
  readonly sensorKey: (id: number) => string;
  readonly token: string;
}

/** Where each file of a certs directory lives. */
export function certsPaths(out: string): CertsPaths {
  return {
    caCert: join(out, "ca.crt"),
    caKey: join(out, "ca.key"),
    gatewayCert: join(out, "gateway.crt"),
    gatewayKey: join(out, "gateway.key"),
    sensorsDir: join(out, "sensors"),
    sensorCert: (id: number) => join(out, "sensors", `sensor-${id}.crt`),
    sensorKey: (id: number) => join(out, "sensors", `sensor-${id}.key`),
    token: join(out, "ingest.token"),
  };
}

/** What the flags need: the output directory, and the openssl command. */
export function permissions(config: CertsConfig): PermissionNeed[] {
  return [...readWriteAccess("out", config.out), runAccess("out", "openssl")];
}

/** Creates whatever is missing (everything with `--force`). */
export async function run(config: CertsConfig, signal: AbortSignal, log: Logger): Promise<void> {
  await assertOpenssl();
  const paths = certsPaths(config.out);
  if (config.force) {
    await removeGenerated(config.out);
  }
  await Deno.mkdir(paths.sensorsDir, { recursive: true });

  const created: string[] = [];
  if (!(await exists(paths.caCert))) {
    const orphans = (await exists(paths.gatewayCert)) ||
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
  if (!(await exists(paths.gatewayCert)) || !(await exists(paths.gatewayKey))) {
    await requireCaKey(paths.caKey, "the gateway certificate");
    await createLeaf(signer, paths.gatewayCert, paths.gatewayKey, {
      subject: "/CN=vigia-gateway",
      extensions: [
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "extendedKeyUsage=serverAuth",
      ],
    });
    created.push("gateway certificate");
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

  if (!(await exists(paths.token))) {
    const token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    });
    await writeAtomically(paths.token, token + "\n", 0o600);
    created.push("ingest token");
  }

  log.info(
    created.length > 0
      ? `created ${created.join(", ")} in ${config.out}/ (sensors 1..${config.sensors})`
      : `nothing to do: ${config.out}/ already holds the CA, gateway and sensors 1..${config.sensors} (--force regenerates)`,
  );
}

interface Signer {
  readonly cert: string;
  readonly key: string;
}

interface LeafOptions {
  readonly subject: string;
  readonly extensions: readonly string[];
}

async function createCa(certPath: string, keyPath: string): Promise<void> {
  const pem = await openssl([
    ...NEW_KEY_ARGS,
    "-subj",
    "/CN=Vigia plant CA",
    "-days",
    String(CA_DAYS),
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await writeKeyAndCert(pem, certPath, keyPath);
}

async function createLeaf(
  signer: Signer,
  certPath: string,
  keyPath: string,
  options: LeafOptions,
): Promise<void> {
  const pem = await openssl([
    ...NEW_KEY_ARGS,
    "-CA",
    signer.cert,
    "-CAkey",
    signer.key,
    "-subj",
    options.subject,
    "-days",
    String(LEAF_DAYS),
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature",
    ...options.extensions.flatMap((extension) => ["-addext", extension]),
  ]);
  await writeKeyAndCert(pem, certPath, keyPath);
}

// One openssl process makes the key and the certificate and prints both on
// stdout, so the key never touches disk with a mode we did not choose.
const NEW_KEY_ARGS = [
  "req",
  "-x509",
  "-new",
  "-newkey",
  "ec",
  "-pkeyopt",
  "ec_paramgen_curve:P-256",
  "-sha256",
  "-noenc",
  "-keyout",
  "-",
  "-out",
  "-",
];

async function writeKeyAndCert(pem: string, certPath: string, keyPath: string): Promise<void> {
  const key = /-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n/.exec(pem)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/.exec(pem)?.[0];
  if (!key || !cert) throw new Error(`openssl printed no key and certificate for ${certPath}`);
  await writeAtomically(keyPath, key, 0o600);
  await writeAtomically(certPath, cert, 0o644);
}

async function openssl(args: string[]): Promise<string> {
  const output = await new Deno.Command("openssl", { args, stdin: "null" }).output();
  if (!output.success) {
    const detail = new TextDecoder().decode(output.stderr).trim().split("\n")[0];
    throw new Error(`openssl ${args[0]} failed: ${detail}`);
  }
  return new TextDecoder().decode(output.stdout);
}

async function assertOpenssl(): Promise<void> {
  try {
    await new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error("Cannot create certificates: the openssl command is not installed");
    }
    throw error;
  }
}

async function requireCaKey(caKey: string, what: string): Promise<void> {
  if (!(await exists(caKey))) {
    throw new Error(`Cannot sign ${what}: the CA key ${caKey} is missing`);
  }
}

/** Writes via a temporary file and a rename, so a reader never sees half a key or a wrong mode. */
async function writeAtomically(path: string, data: string, mode: number): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, data, { mode, createNew: true });
    await Deno.chmod(temporary, mode); // the umask may have narrowed it; never widened
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

async function removeGenerated(out: string): Promise<void> {
  const paths = certsPaths(out);
  for (
    const path of [paths.caCert, paths.caKey, paths.gatewayCert, paths.gatewayKey, paths.token]
  ) {
    await Deno.remove(path).catch(ignoreNotFound);
  }
  await Deno.remove(paths.sensorsDir, { recursive: true }).catch(ignoreNotFound);
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    ignoreNotFound(error);
    return false;
  }
}

function ignoreNotFound(error: unknown): void {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
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
