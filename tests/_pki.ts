/**
 * A throwaway plant PKI for tests, made by the real `certs.ts` under its own
 * permission set, in a temporary directory. Made once per test process and
 * shared by the tests in it. Also the certificates a plant PKI never issues
 * (self-signed, a CN that names no sensor, expired, not yet valid), made
 * with the openssl CLI for the tests of who the gateway lets in.
 *
 * @module
 */

import { join } from "node:path";
import { type CertsPaths, certsPaths } from "../certs.ts";
import { launchArgs, ROOT } from "../lib/launch.ts";

/** A generated test PKI: its directory, file paths and the ingest token. */
export interface TestPki extends CertsPaths {
  readonly dir: string;
  readonly tokenValue: string;
}

const cache = new Map<number, Promise<TestPki>>();

/** Returns a PKI with sensor certificates 1..`sensors` (made on first use). */
export function testPki(sensors = 10): Promise<TestPki> {
  let pki = cache.get(sensors);
  if (!pki) {
    pki = createPki(sensors);
    cache.set(sensors, pki);
  }
  return pki;
}

/** Runs `deno task certs --out dir ...args` as a process, allowed to read and write only `dir`. */
export async function runCerts(dir: string, args: readonly string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command(Deno.execPath(), {
    args: await launchArgs("certs", ["--out", dir, ...args]),
    cwd: ROOT,
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
}

async function createPki(sensors: number): Promise<TestPki> {
  const parent = await Deno.makeTempDir({ prefix: "vigia-pki-" });
  // Keys in /tmp outlive nothing: removed when the test module's process ends.
  globalThis.addEventListener("unload", () => Deno.removeSync(parent, { recursive: true }));
  const dir = join(parent, "certs");
  const output = await runCerts(dir, ["--sensors", String(sensors)]);
  if (!output.success) {
    throw new Error(`certs.ts failed:\n${new TextDecoder().decode(output.stderr)}`);
  }
  const paths = certsPaths(dir);
  const tokenValue = (await Deno.readTextFile(paths.token)).trim();
  return { ...paths, dir, tokenValue };
}

/** A client identity for `Deno.connectTls`: PEM certificate and key. */
export interface Identity {
  readonly cert: string;
  readonly key: string;
}

/** Runs `openssl` with `args`, its output captured. */
export async function openssl(args: readonly string[]): Promise<Deno.CommandOutput> {
  return await new Deno.Command("openssl", {
    args: [...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

async function mustOpenssl(args: readonly string[]): Promise<void> {
  const output = await openssl(args);
  if (!output.success) {
    throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(output.stderr)}`);
  }
}

// What certs.ts gives a sensor's certificate: a client-auth leaf.
const CLIENT_EXTENSIONS = [
  "-addext",
  "basicConstraints=critical,CA:FALSE",
  "-addext",
  "keyUsage=critical,digitalSignature",
  "-addext",
  "extendedKeyUsage=clientAuth",
];

// A new P-256 key, unencrypted.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-noenc"];

/**
 * A client certificate whose CN is `cn`, valid for a day, with a new key:
 * signed by the plant CA of `signer` when given, self-signed otherwise.
 * Its files go to a new directory in `dir`.
 */
export async function clientCert(
  dir: string,
  cn: string,
  signer?: { readonly caCert: string; readonly caKey: string },
): Promise<Identity> {
  const out = await Deno.makeTempDir({ dir, prefix: "client-cert-" });
  const cert = join(out, "client.crt");
  const key = join(out, "client.key");
  await mustOpenssl([
    "req",
    "-x509",
    ...NEW_KEY,
    "-sha256",
    "-keyout",
    key,
    "-out",
    cert,
    ...(signer ? ["-CA", signer.caCert, "-CAkey", signer.caKey] : []),
    "-subj",
    `/CN=${cn}`,
    "-days",
    "1",
    ...CLIENT_EXTENSIONS,
  ]);
  return { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) };
}

/**
 * A sensor-1 certificate signed by the plant CA but valid only from `start`
 * to `end` (`YYYYMMDDHHMMSSZ`): OpenSSL 3.0's `x509 -req` cannot backdate,
 * `openssl ca` can. `name` names its working directory in `dir`.
 */
export async function datedCert(
  pki: { readonly caCert: string; readonly caKey: string },
  dir: string,
  name: string,
  validity: { readonly start: string; readonly end: string },
): Promise<Identity> {
  const ca = join(dir, `ca-${name}`);
  await Deno.mkdir(ca);
  await Deno.writeTextFile(join(ca, "index.txt"), "");
  await Deno.writeTextFile(join(ca, "serial"), "1000\n");
  await Deno.writeTextFile(
    join(ca, "ca.cnf"),
    [
      "[ca]",
      "default_ca = plant",
      "[plant]",
      `database = ${join(ca, "index.txt")}`,
      `new_certs_dir = ${ca}`,
      `serial = ${join(ca, "serial")}`,
      "default_md = sha256",
      "policy = any",
      "copy_extensions = copy",
      "[any]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  const key = join(ca, "sensor.key");
  const csr = join(ca, "sensor.csr");
  const cert = join(ca, "sensor.crt");
  await mustOpenssl([
    "req",
    "-new",
    ...NEW_KEY,
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=sensor-1",
    ...CLIENT_EXTENSIONS,
  ]);
  await mustOpenssl([
    "ca",
    "-batch",
    "-notext",
    "-config",
    join(ca, "ca.cnf"),
    "-cert",
    pki.caCert,
    "-keyfile",
    pki.caKey,
    "-in",
    csr,
    "-out",
    cert,
    "-startdate",
    validity.start,
    "-enddate",
    validity.end,
  ]);
  return { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) };
}
