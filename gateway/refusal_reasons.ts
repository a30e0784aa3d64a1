/**
 * Why the gateway refused a sensor's TLS connection, in words an operator
 * can act on: the log line of every failed handshake and refused
 * certificate. Explanations only: the TLS layer (gateway/listener.ts)
 * makes every decision.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";

/** Plain words for the handshake failures an operator meets, by rustls/OpenSSL wording. */
const HANDSHAKE_FAILURES: readonly (readonly [RegExp, string])[] = [
  [/PEER_DID_NOT_RETURN_A_CERTIFICATE|CertificateRequired/, "no client certificate"],
  [
    /WRONG_VERSION_NUMBER|InvalidContentType|HTTP_REQUEST/,
    "not TLS (plaintext or another protocol)",
  ],
  [
    /SignatureAlgorithmsExtensionRequired|Tls12NotOffered|ProtocolVersion|UNSUPPORTED_PROTOCOL/,
    "the client offers no TLS 1.2 or 1.3",
  ],
  [/timed? ?out|TIMEOUT/i, "handshake not completed in time"],
];

/** The log reason for a failed handshake: plain words first, then the TLS layer's own. */
export function describeHandshakeError(error: Error & { code?: string }): string {
  const detail = error.code ? `${error.code}: ${error.message}` : error.message;
  const known = HANDSHAKE_FAILURES.find(([pattern]) => pattern.test(detail));
  return known ? `${known[1]} (${detail})` : detail;
}

/**
 * Why the TLS layer refused a client certificate (`raw`, DER; undefined
 * when the client sent none), in words an operator can act on. Deno's
 * node:tls reports nearly every chain failure as
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`, so the certificate itself is examined
 * here; only the explanation comes from this, never the decision.
 */
export function describeRejectedCertificate(
  raw: Uint8Array | undefined,
  ca: X509Certificate,
  code: unknown,
  now: number = Date.now(),
): string {
  if (raw === undefined || raw.length === 0) return "no client certificate";
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch {
    return `unreadable client certificate (${String(code)})`;
  }
  const subject = JSON.stringify(cert.subject.replaceAll("\n", ", "));
  if (!cert.verify(ca.publicKey)) {
    if (cert.issuer === cert.subject) return `self-signed certificate ${subject}`;
    const issuer = JSON.stringify(cert.issuer.replaceAll("\n", ", "));
    return cert.issuer === ca.subject
      ? `certificate ${subject} names the plant CA ${issuer} as issuer but is not signed by its key`
      : `certificate ${subject} issued by ${issuer}, not by the plant CA`;
  }
  const validTo = Date.parse(cert.validTo);
  const validFrom = Date.parse(cert.validFrom);
  if (now > validTo) return `certificate ${subject} expired on ${new Date(validTo).toISOString()}`;
  if (now < validFrom) {
    return `certificate ${subject} not valid before ${new Date(validFrom).toISOString()}`;
  }
  return `certificate ${subject} from the plant CA refused by TLS verification (${
    String(code)
  }); is it made for client authentication (extendedKeyUsage=clientAuth)?`;
}
