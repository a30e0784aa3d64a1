/**
 * Reads a certificate revocation list (RFC 5280 §5, PEM or DER) and checks
 * that the plant CA signed it. Deno's `node:tls` accepts a `crl` option but
 * does not apply it, so the gateway looks each client certificate's serial
 * number up here after the handshake, before a byte of the connection is
 * read.
 *
 * Only what revocation needs is decoded: the signed part's bytes (for the
 * signature), `thisUpdate`, `nextUpdate`, and each revoked serial with its
 * date and reason code. Every length is checked against its container, so a
 * damaged file throws {@linkcode CrlError} and never reads out of bounds.
 *
 * ```ts
 * import { normalizeSerial } from "./crl.ts";
 * import assert from "node:assert/strict";
 * assert.equal(normalizeSerial("00af:3B"), "AF3B");
 * ```
 *
 * @module
 */

import { verify, type X509Certificate } from "node:crypto";

/** One revoked certificate. */
export interface RevokedEntry {
  /** Serial number, upper-case hex without leading zeros (see {@linkcode normalizeSerial}). */
  readonly serial: string;
  /** When it was revoked, epoch ms. */
  readonly revokedAt: number;
  /** The CRL reason code's name (`keyCompromise`), undefined when the CRL gives none. */
  readonly reason: string | undefined;
}

/** A parsed, signature-checked revocation list. */
export interface Crl {
  /** Issue date, epoch ms. */
  readonly thisUpdate: number;
  /** Date of the next list, epoch ms, when the CRL names one. */
  readonly nextUpdate: number | undefined;
  /** Revoked certificates by normalised serial. */
  readonly revoked: ReadonlyMap<string, RevokedEntry>;
}

/** A CRL that cannot be used: unparsable, or not signed by the CA. */
export class CrlError extends SyntaxError {
  constructor(message: string) {
    super(message);
    this.name = "CrlError";
  }
}

/** A serial number as upper-case hex without separators or leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, "").toUpperCase().replace(/^0+(?=.)/, "");
}

/** Signature algorithms by DER-encoded OID, with the hash `crypto.verify` takes. */
const SIGNATURE_HASHES: ReadonlyMap<string, string | null> = new Map([
  ["2a8648ce3d040302", "sha256"], // ecdsa-with-SHA256
  ["2a8648ce3d040303", "sha384"], // ecdsa-with-SHA384
  ["2a8648ce3d040304", "sha512"], // ecdsa-with-SHA512
  ["2a864886f70d01010b", "sha256"], // sha256WithRSAEncryption
  ["2a864886f70d01010c", "sha384"], // sha384WithRSAEncryption
  ["2a864886f70d01010d", "sha512"], // sha512WithRSAEncryption
  ["2b6570", null], // Ed25519
]);

const REASON_CODE_OID = "551d15"; // id-ce-cRLReasons, 2.5.29.21
const REASONS = [
  "unspecified",
  "keyCompromise",
  "cACompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "certificateHold",
  undefined,
  "removeFromCRL",
  "privilegeWithdrawn",
  "aACompromise",
] as const;

const TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  oid: 0x06,
  enumerated: 0x0a,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
} as const;

/** One DER element: its tag and where its contents lie in the buffer. */
interface Element {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the contents. */
  readonly body: number;
  /** Offset just past the contents. */
  readonly end: number;
}

/**
 * Parses `input` (PEM text or DER bytes) and verifies its signature with
 * `ca`'s public key. Throws {@linkcode CrlError} when it is malformed,
 * signed with an unknown algorithm, or not signed by `ca`.
 */
export function parseCrl(input: string | Uint8Array, ca: X509Certificate): Crl {
  const der = typeof input === "string" ? pemToDer(input) : input;
  const list = readElement(der, 0, der.length, TAG.sequence);
  if (list.end !== der.length) throw new CrlError("Cannot parse CRL: bytes after its end");
  const tbs = readElement(der, list.body, list.end, TAG.sequence);
  const algorithm = readElement(der, tbs.end, list.end, TAG.sequence);
  const signature = readElement(der, algorithm.end, list.end, TAG.bitString);
  const oid = readElement(der, algorithm.body, algorithm.end, TAG.oid);
  const oidHex = hex(der.subarray(oid.body, oid.end));
  const hash = SIGNATURE_HASHES.get(oidHex);
  if (hash === undefined) {
    throw new CrlError(`Cannot verify CRL: unsupported signature algorithm (OID bytes ${oidHex})`);
  }
  // A BIT STRING's first content byte counts unused bits; a signature has none.
  const signatureBytes = der.subarray(signature.body + 1, signature.end);
  if (
    der[signature.body] !== 0 ||
    !verify(hash, der.subarray(tbs.start, tbs.end), ca.publicKey, signatureBytes)
  ) {
    throw new CrlError("Cannot use CRL: its signature does not verify with the plant CA's key");
  }

  // version (optional INTEGER), signature algorithm, issuer, thisUpdate; the
  // signature already proves the issuer, so its name is skipped.
  let algorithmInTbs = readElement(der, tbs.body, tbs.end);
  if (algorithmInTbs.tag === TAG.integer) {
    algorithmInTbs = readElement(der, algorithmInTbs.end, tbs.end, TAG.sequence);
  }
  const issuer = readElement(der, algorithmInTbs.end, tbs.end, TAG.sequence);
  const thisUpdateElement = readElement(der, issuer.end, tbs.end);
  const thisUpdate = readTime(der, thisUpdateElement);
  let at = thisUpdateElement.end;
  let nextUpdate: number | undefined;
  const revoked = new Map<string, RevokedEntry>();
  while (at < tbs.end) {
    const element = readElement(der, at, tbs.end);
    at = element.end;
    if (element.tag === TAG.utcTime || element.tag === TAG.generalizedTime) {
      nextUpdate = readTime(der, element);
    } else if (element.tag === TAG.sequence) {
      for (let entryAt = element.body; entryAt < element.end;) {
        const entryElement = readElement(der, entryAt, element.end, TAG.sequence);
        const entry = readEntry(der, entryElement);
        revoked.set(entry.serial, entry);
        entryAt = entryElement.end;
      }
    } // [0] crlExtensions: nothing revocation needs
  }
  return { thisUpdate, nextUpdate, revoked };
}

function readEntry(der: Uint8Array, entry: Element): RevokedEntry {
  const serial = readElement(der, entry.body, entry.end, TAG.integer);
  const date = readElement(der, serial.end, entry.end);
  let reason: string | undefined;
  if (date.end < entry.end) {
    const extensions = readElement(der, date.end, entry.end, TAG.sequence);
    for (let at = extensions.body; at < extensions.end;) {
      const extension = readElement(der, at, extensions.end, TAG.sequence);
      at = extension.end;
      const oid = readElement(der, extension.body, extension.end, TAG.oid);
      if (hex(der.subarray(oid.body, oid.end)) !== REASON_CODE_OID) continue;
      let value = readElement(der, oid.end, extension.end);
      if (value.tag !== TAG.octetString) value = readElement(der, value.end, extension.end); // critical
      const code = readElement(der, value.body, value.end, TAG.enumerated);
      reason = REASONS[der[code.body] ?? 0] ?? `reason ${der[code.body]}`;
    }
  }
  return {
    serial: normalizeSerial(hex(der.subarray(serial.body, serial.end))),
    revokedAt: readTime(der, date),
    reason,
  };
}

function readElement(der: Uint8Array, at: number, limit: number, expected?: number): Element {
  if (at + 2 > limit) throw new CrlError(`Cannot parse CRL: truncated at byte ${at}`);
  const tag = der[at]!;
  if (expected !== undefined && tag !== expected) {
    throw new CrlError(
      `Cannot parse CRL: expected tag 0x${expected.toString(16)} at byte ${at}, got 0x${
        tag.toString(16)
      }`,
    );
  }
  let length = der[at + 1]!;
  let body = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || body + bytes > limit) {
      throw new CrlError(`Cannot parse CRL: bad length at byte ${at}`);
    }
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[body + i]!;
    body += bytes;
  }
  const end = body + length;
  if (end > limit) {
    throw new CrlError(`Cannot parse CRL: element at byte ${at} overruns its container`);
  }
  return { tag, start: at, body, end };
}

function readTime(der: Uint8Array, element: Element): number {
  const text = new TextDecoder().decode(der.subarray(element.body, element.end));
  const match = element.tag === TAG.utcTime
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : element.tag === TAG.generalizedTime
    ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
    : null;
  if (!match) throw new CrlError(`Cannot parse CRL: bad time at byte ${element.start}`);
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  // RFC 5280: a two-digit year 50-99 is 19xx, 00-49 is 20xx.
  const year = element.tag === TAG.utcTime ? (y! >= 50 ? 1900 : 2000) + y! : y!;
  return Date.UTC(year, mo! - 1, d!, h!, mi!, s!);
}

function pemToDer(pem: string): Uint8Array {
  const match = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(pem);
  if (!match) throw new CrlError("Cannot parse CRL: no -----BEGIN X509 CRL----- block");
  return Uint8Array.fromBase64(match[1]!.replace(/\s+/g, ""));
}

function hex(bytes: Uint8Array): string {
  return bytes.toHex();
}
