/**
 * `deno task certs --revoke ID`: shuts one sensor out without touching the
 * rest of the PKI. Records the certificate of `sensors/sensor-<ID>.crt` as
 * revoked in openssl's CA database (`crl/index.txt`, by serial number) and
 * rewrites `crl.pem`, the certificate revocation list signed by the plant
 * CA, which the gateway reloads on its own (on change or SIGHUP).
 *
 * The CRL is valid for as long as the CA: it is a file the gateway reads
 * locally, not one fetched from a distribution point, so an expiry date
 * would only add a way to lock every sensor out.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import { join, resolve } from "node:path";
import type { Logger } from "../lib/log.ts";
import { exists, openssl, writeAtomically } from "./openssl.ts";

/** The files revocation keeps under a certs directory. */
export interface RevocationPaths {
  readonly caCert: string;
  readonly caKey: string;
  readonly crl: string;
  readonly crlDir: string;
  readonly sensorCert: (id: number) => string;
}

const CRL_DAYS = 3650;

/**
 * Revokes sensor `id`'s certificate and rewrites the CRL. Revoking an
 * already revoked sensor only rewrites the CRL. Throws when the sensor has
 * no certificate or it was not issued by this CA.
 */
export async function revokeSensor(paths: RevocationPaths, id: number, log: Logger): Promise<void> {
  const certPath = paths.sensorCert(id);
  if (!(await exists(certPath))) {
    throw new Error(`Cannot revoke sensor ${id}: ${certPath} does not exist`);
  }
  if (!(await exists(paths.caKey))) {
    throw new Error(`Cannot revoke sensor ${id}: the CA key ${paths.caKey} is missing`);
  }
  const ca = new X509Certificate(await Deno.readTextFile(paths.caCert));
  const cert = new X509Certificate(await Deno.readTextFile(certPath));
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new Error(`Cannot revoke sensor ${id}: ${certPath} was not issued by ${paths.caCert}`);
  }
  const config = await prepareDatabase(paths);
  const signer = ["-config", config, "-cert", paths.caCert, "-keyfile", paths.caKey];
  const database = await Deno.readTextFile(join(paths.crlDir, "index.txt"));
  const serial = cert.serialNumber.toUpperCase().replace(/^0+(?=.)/, "");
  const already = database.split("\n").some((line) => {
    const [status, , , entrySerial] = line.split("\t");
    return status === "R" && entrySerial?.replace(/^0+(?=.)/, "") === serial;
  });
  if (!already) await openssl(["ca", ...signer, "-revoke", certPath]);
  const crl = await openssl(["ca", ...signer, "-gencrl", "-crldays", String(CRL_DAYS)]);
  await writeAtomically(paths.crl, crl, 0o644);
  log.info(
    already
      ? `sensor ${id} was already revoked; rewrote ${paths.crl}`
      : `revoked sensor ${id} (certificate serial ${serial}); wrote ${paths.crl}`,
  );
}

/** Creates the CA database on first use and writes the openssl config; returns its path. */
async function prepareDatabase(paths: RevocationPaths): Promise<string> {
  await Deno.mkdir(paths.crlDir, { recursive: true, mode: 0o700 });
  const index = join(paths.crlDir, "index.txt");
  const number = join(paths.crlDir, "crlnumber");
  if (!(await exists(index))) await writeAtomically(index, "", 0o600);
  if (!(await exists(number))) await writeAtomically(number, "01\n", 0o600);
  const config = join(paths.crlDir, "openssl.cnf");
  await writeAtomically(
    config,
    [
      "[ca]",
      "default_ca = plant",
      "[plant]",
      `database = ${resolve(index)}`,
      `crlnumber = ${resolve(number)}`,
      "default_md = sha256",
      "unique_subject = no",
      "",
    ].join("\n"),
    0o600,
  );
  return config;
}
