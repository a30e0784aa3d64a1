/**
 * The gateway's revocation list: `crl.pem` of the certs directory, written
 * by `deno task certs --revoke ID`, checked against the plant CA's key and
 * kept current without a restart — reloaded when the file changes and on
 * SIGHUP (see lib/watched_file.ts). After each reload the listener drops the
 * live connections of newly revoked sensors.
 *
 * A missing file means nothing is revoked (a PKI made before revocation
 * existed). A reload that finds the file removed, unreadable, damaged or not
 * signed by the plant CA keeps the list in force and logs why: an operator's
 * slip must never let a revoked sensor back in. Only a restart clears it.
 *
 * @module
 */

import type { X509Certificate } from "node:crypto";
import type { Logger } from "../lib/log.ts";
import { watchFile } from "../lib/watched_file.ts";
import { type Crl, normalizeSerial, parseCrl, type RevokedEntry } from "./crl.ts";

/** Options of {@linkcode RevocationList.open}. */
export interface RevocationOptions {
  /** The plant CA, whose key must have signed the CRL. */
  readonly ca: X509Certificate;
  readonly log: Logger;
  /** Stops watching the file. */
  readonly signal: AbortSignal;
  /** Time between two checks of the file, ms (default 1,000). */
  readonly intervalMs?: number;
}

/** The revoked certificates in force; see the module doc. */
export class RevocationList {
  #crl: Crl | undefined;
  #onReload = new Set<() => void>();

  private constructor(crl: Crl | undefined) {
    this.#crl = crl;
  }

  /**
   * Reads `path` (absent: nothing revoked) and watches it until `signal`
   * aborts. Throws when the file exists but cannot be used, so a gateway
   * does not start with a list it cannot enforce.
   */
  static async open(path: string, options: RevocationOptions): Promise<RevocationList> {
    const { log } = options;
    const list = new RevocationList(await readCrl(path, options.ca));
    if (list.#crl !== undefined) {
      log.info("revocation list loaded", { path, revoked: list.size });
    }
    watchFile(path, async () => {
      let crl: Crl | undefined;
      try {
        crl = await readCrl(path, options.ca);
        if (crl === undefined) throw new Error(`Cannot read ${path}: the file was removed`);
      } catch (error) {
        log.error(`${(error as Error).message}; keeping the ${list.size} revocations in force`);
        return;
      }
      list.#crl = crl;
      log.info("revocation list reloaded", { path, revoked: list.size });
      for (const callback of list.#onReload) callback();
    }, options);
    return list;
  }

  /** Calls `callback` after every reload (the listener then drops newly revoked sensors). */
  onReload(callback: () => void): void {
    this.#onReload.add(callback);
  }

  /** Revoked certificates in force. */
  get size(): number {
    return this.#crl?.revoked.size ?? 0;
  }

  /** The revocation of the certificate with this serial number (any hex form), if revoked. */
  check(serial: string): RevokedEntry | undefined {
    return this.#crl?.revoked.get(normalizeSerial(serial));
  }
}

/** Words for a log line: when and why a certificate was revoked. */
export function describeRevocation(entry: RevokedEntry): string {
  const why = entry.reason === undefined ? "" : ` (${entry.reason})`;
  return `certificate serial ${entry.serial} revoked on ${
    new Date(entry.revokedAt).toISOString()
  }${why}`;
}

async function readCrl(path: string, ca: X509Certificate): Promise<Crl | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return parseCrl(text, ca);
  } catch (error) {
    throw new Error(`${(error as Error).message} (${path})`);
  }
}
