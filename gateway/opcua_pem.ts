/**
 * Certificates as OPC UA handles them: DER bytes in a Node `Buffer`, read
 * from a PEM or DER file, and named in logs by their SHA-256 fingerprint in
 * the form `openssl x509 -noout -fingerprint -sha256` prints, so an engineer
 * can compare what the log says with what is on disk.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatFingerprint } from "./opcua_pem.ts";
 *
 * assert.equal(formatFingerprint(new Uint8Array([0xab, 0x01, 0xff])), "AB:01:FF");
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/;

/**
 * The DER bytes of the first certificate in `bytes`, PEM or DER. Throws a
 * `SyntaxError` when it is neither (a DER certificate starts with an ASN.1
 * SEQUENCE).
 */
export function parseCertificate(bytes: Uint8Array): Buffer {
  const text = new TextDecoder("latin1").decode(bytes);
  const match = PEM_CERTIFICATE.exec(text);
  if (match) return Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
  if (bytes.length > 64 && bytes[0] === 0x30) return Buffer.from(bytes);
  throw new SyntaxError("not a PEM or DER certificate");
}

/** Reads a PEM or DER certificate file; errors name the path. */
export async function readCertificate(path: string): Promise<Buffer> {
  const bytes = await Deno.readFile(path);
  try {
    return parseCertificate(bytes);
  } catch (error) {
    throw new SyntaxError(`Cannot read certificate "${path}": ${(error as Error).message}`);
  }
}

/** `AB:01:…` — upper-case hex pairs joined by colons. */
export function formatFingerprint(digest: Uint8Array): string {
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The SHA-256 fingerprint of DER certificate bytes. */
export async function certificateFingerprint(der: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(der));
  return formatFingerprint(new Uint8Array(digest));
}
