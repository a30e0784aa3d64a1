/**
 * The gateway's side of OPC UA security: its application instance
 * (certificate, key and application URI, from `deno task certs`), handed to
 * node-opcua in memory, and the trust store that pins each server's
 * certificate: exactly the file's certificate is trusted for its endpoint,
 * nothing is trusted on first use, and nothing is written to disk (the
 * stack's default would be a PKI folder under `$HOME`).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { StatusCodes } from "node-opcua-client";
import type { OPCUAClientOptions, StatusCode } from "node-opcua-client";

/** node-opcua's in-memory certificate and key provider. */
export type KeyPairProvider = NonNullable<OPCUAClientOptions["certificateKeyPairProvider"]>;
import { readCertificate } from "./opcua_pem.ts";

/** The gateway's OPC UA application instance. */
export interface OpcuaIdentity {
  /** DER. */
  readonly certificate: Buffer;
  readonly privateKey: KeyObject;
  /** From the certificate's subject alternative name; node-opcua checks they agree. */
  readonly applicationUri: string;
}

/** Where `deno task certs` puts the application certificate and key, under the certs folder. */
export function opcuaIdentityPaths(certsDir: string): { cert: string; key: string } {
  return {
    cert: join(certsDir, "opcua", "gateway.crt"),
    key: join(certsDir, "opcua", "gateway.key"),
  };
}

/** Reads the gateway's OPC UA certificate and key from the certs folder. */
export async function readOpcuaIdentity(certsDir: string): Promise<OpcuaIdentity> {
  const paths = opcuaIdentityPaths(certsDir);
  const certificate = await readCertificate(paths.cert);
  const privateKey = createPrivateKey(await Deno.readTextFile(paths.key));
  const san = new X509Certificate(certificate).subjectAltName ?? "";
  const applicationUri = /URI:([^,\s]+)/.exec(san)?.[1];
  if (applicationUri === undefined) {
    throw new Error(
      `Cannot use ${paths.cert}: no application URI in its subject alternative name`,
    );
  }
  return { certificate, privateKey, applicationUri };
}

/** The `certificateKeyPairProvider` node-opcua takes, over an identity held in memory. */
export function keyPairProvider(identity: OpcuaIdentity): KeyPairProvider {
  return {
    getCertificate: () => identity.certificate,
    getCertificateChain: () => [identity.certificate],
    // node-opcua's PrivateKey is this wrapper around a KeyObject.
    getPrivateKey: () => ({ hidden: identity.privateKey }) as never,
  };
}

/**
 * A certificate store (node-opcua's `clientCertificateManager` shape) that
 * trusts exactly one certificate. node-opcua asks it about the certificate
 * the server presents in its endpoints; another one is refused and kept in
 * {@linkcode PinningStore.rejected}, so the log can name what was presented.
 */
export class PinningStore {
  referenceCounter = 0;
  /** The last certificate refused, DER. */
  rejected: Buffer | undefined;
  readonly #pinned: Uint8Array | undefined;

  constructor(pinned: Uint8Array | undefined) {
    this.#pinned = pinned;
  }

  /** Asked about the server's certificate. */
  checkCertificate(certificate: Buffer | Buffer[]): Promise<StatusCode> {
    if (this.#trusts(certificate)) return Promise.resolve(StatusCodes.Good);
    this.rejected = Array.isArray(certificate) ? certificate[0] : certificate;
    return Promise.resolve(StatusCodes.BadCertificateUntrusted);
  }

  /** Also asked about the gateway's own certificate at start, where "untrusted" is expected. */
  verifyCertificate(certificate: Buffer | Buffer[]): Promise<string> {
    return Promise.resolve(this.#trusts(certificate) ? "Good" : "BadCertificateUntrusted");
  }

  getTrustStatus(certificate: Buffer | Buffer[]): Promise<StatusCode> {
    return Promise.resolve(
      this.#trusts(certificate) ? StatusCodes.Good : StatusCodes.BadCertificateUntrusted,
    );
  }

  // The trust list is the file's one certificate: nothing to add, remove or load.
  initialize(): Promise<void> {
    return Promise.resolve();
  }
  dispose(): Promise<void> {
    return Promise.resolve();
  }
  trustCertificate(): Promise<void> {
    return Promise.resolve();
  }
  rejectCertificate(): Promise<void> {
    return Promise.resolve();
  }
  addIssuer(): Promise<void> {
    return Promise.resolve();
  }
  addRevocationList(): Promise<void> {
    return Promise.resolve();
  }

  #trusts(certificate: Buffer | Buffer[]): boolean {
    const leaf = Array.isArray(certificate) ? certificate[0] : certificate;
    return leaf !== undefined && this.#pinned !== undefined &&
      Buffer.compare(leaf, this.#pinned) === 0;
  }
}
