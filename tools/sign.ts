/**
 * `deno task certs --sign CSR`: the plant CA signs a sensor's certificate
 * signing request, for a sensor whose key was made on the device and never
 * leaves it. Only the CSR comes in and only the certificate goes out; no key
 * but the CA's is read.
 *
 * The CSR is refused unless its self-signature verifies (proof that whoever
 * made it holds the key) and its subject is exactly `CN=sensor-<id>`, the
 * form the gateway binds a connection to (gateway/listener.ts). The
 * certificate gets the profile of the sensor certificates certs.ts makes:
 * the subject `CN=sensor-<id>`, a client-auth leaf, P-256 or whatever key
 * the device chose, signed with SHA-256; any extension the CSR asks for is
 * ignored (openssl's `req -x509` copies none), so a CSR cannot ask to be a CA.
 *
 * @module
 */

import { dirname } from "node:path";
import { sensorIdFromCn } from "../gateway/listener.ts";
import type { Logger } from "../lib/log.ts";
import { exists, LEAF_DAYS, requireCaKey, writeAtomically } from "./openssl.ts";

/** The files signing uses under a certs directory. */
export interface SigningPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly sensorCert: (id: number) => string;
}

// What certs.ts gives a sensor's certificate (tests/certs_sign_test.ts compares the two).
const SENSOR_EXTENSIONS = [
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=clientAuth",
];

/** A PEM CSR is well under this; anything larger is not one. */
const MAX_CSR_BYTES = 64 * 1024;

/**
 * Validates the CSR, signs it with the CA and writes the certificate (mode
 * 0644) to `signOut`, by default the sensor's place under the certs directory.
 */
export async function signSensor(
  paths: SigningPaths,
  csr: string,
  signOut: string | undefined,
  log: Logger,
): Promise<void> {
  const fail = (detail: string) => new Error(`Cannot sign ${JSON.stringify(csr)}: ${detail}`);
  await readCsr(csr, fail);
  await requireCaKey(paths.caKey, JSON.stringify(csr));

  const verified = await runOpenssl(["req", "-in", csr, "-noout", "-verify"]);
  // OpenSSL 3.0 exits 0 even when the signature does not verify: read its verdict.
  if (!verified.success && !/verify failure/.test(verified.stderr)) {
    throw fail(`openssl cannot read it as a CSR: ${firstLine(verified.stderr)}`);
  }
  if (!verified.success || !/verify OK/.test(verified.stderr)) {
    throw fail(
      `its signature does not verify, so it may not come from the holder of its key (openssl: ${
        firstLine(verified.stderr)
      })`,
    );
  }

  const subject = await runOpenssl([
    "req",
    "-in",
    csr,
    "-noout",
    "-subject",
    "-nameopt",
    "RFC2253",
  ]);
  const name = subject.stdout.trim().replace(/^subject=/, "");
  const cn = /^CN=([^,+\\]*)$/.exec(name)?.[1];
  const sensorId = sensorIdFromCn(cn);
  if (!subject.success || sensorId === undefined) {
    throw fail(
      `its subject must be exactly CN=sensor-<id> (a decimal id without leading zeros, ` +
        `up to 4294967295), the sensor the gateway will take its readings as; got ${
          JSON.stringify(name)
        }`,
    );
  }

  const path = signOut ?? paths.sensorCert(sensorId);
  const keyBeside = path.endsWith(".crt") ? path.slice(0, -".crt".length) + ".key" : undefined;
  if (keyBeside !== undefined && await exists(keyBeside)) {
    throw fail(
      `${keyBeside} is beside ${path} and the new certificate would not match it; ` +
        `remove both (the device has its own key) or write elsewhere with --sign-out FILE`,
    );
  }

  const signed = await runOpenssl([
    "req",
    "-x509",
    "-in",
    csr,
    "-CA",
    paths.caCert,
    "-CAkey",
    paths.caKey,
    "-subj",
    `/CN=sensor-${sensorId}`,
    "-days",
    String(LEAF_DAYS),
    "-sha256",
    ...SENSOR_EXTENSIONS.flatMap((extension) => ["-addext", extension]),
  ]);
  const pem = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/.exec(signed.stdout)
    ?.[0];
  if (!signed.success || !pem) {
    throw fail(`openssl req -x509 failed: ${firstLine(signed.stderr)}`);
  }
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeAtomically(path, pem, 0o644);

  const dates = await runOpenssl(["x509", "-noout", "-enddate"], pem);
  log.info(
    `signed ${csr}: ${path} for sensor ${sensorId} (CN=sensor-${sensorId}), valid until ${
      dates.stdout.trim().replace(/^notAfter=/, "")
    }`,
  );
}

async function readCsr(path: string, fail: (detail: string) => Error): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw fail("no such file");
    throw error;
  }
  if (!info.isFile) throw fail("not a file");
  if (info.size > MAX_CSR_BYTES) {
    throw fail(`${info.size} bytes, more than a CSR (${MAX_CSR_BYTES})`);
  }
  const text = await Deno.readTextFile(path);
  if (!/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(text)) {
    throw fail("not a PEM certificate signing request (no BEGIN CERTIFICATE REQUEST line)");
  }
}

interface OpensslOutput {
  readonly success: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

async function runOpenssl(args: readonly string[], input?: string): Promise<OpensslOutput> {
  const child = new Deno.Command("openssl", {
    args: [...args],
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    success: output.success,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}
