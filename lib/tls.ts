/**
 * TLS on the HTTP hop: the server's certificate files, the rule that a
 * server off loopback speaks TLS unless told otherwise, and the client side
 * (gateway, query client) that verifies an `https://` server against the
 * plant CA.
 *
 * Deno's HTTPS (rustls) speaks TLS 1.2 and 1.3 only, so nothing older can
 * be negotiated, on either side.
 *
 * ```ts
 * import { isLoopback } from "./tls.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isLoopback("127.0.0.1") && isLoopback("localhost") && isLoopback("::1"));
 * assert.ok(!isLoopback("0.0.0.0") && !isLoopback("10.1.2.3") && !isLoopback("plant-server"));
 * ```
 *
 * @module
 */

import { UsageError } from "./cli.ts";

/** PEM certificate chain and private key. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * Whether `host` is a loopback address: `localhost`, 127.0.0.0/8 or `::1`.
 * Any other name counts as off loopback, even one that resolves to it: the
 * rule must not depend on a resolver.
 */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost" || bare === "::1" || bare === "0:0:0:0:0:0:0:1") return true;
  return /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(bare) &&
    bare.split(".").every((part) => Number(part) <= 255);
}

/**
 * Refuses (exit 2) a server listening off loopback in plaintext unless
 * `--plaintext` says so: secure by default, on purpose only.
 */
export function assertSecureListen(
  host: string,
  options: { readonly tls: boolean; readonly plaintext: boolean },
): void {
  if (options.tls || options.plaintext || isLoopback(host)) return;
  throw new UsageError(
    `Cannot listen on ${JSON.stringify(host)} in plain HTTP: readings and tokens would cross ` +
      `the network in clear; add --tls-cert certs/server.crt --tls-key certs/server.key ` +
      `(or --plaintext to accept that)`,
  );
}

/** Reads a certificate and its key, with errors that name the flag and what to run. */
export async function readTlsFiles(certPath: string, keyPath: string): Promise<TlsFiles> {
  return {
    cert: await readPem("tls-cert", certPath, /-----BEGIN CERTIFICATE-----/),
    key: await readPem("tls-key", keyPath, /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  };
}

/** Reads the PEM file of `--flag`; errors name the flag, the path and, when missing, what to run. */
async function readPem(flag: string, path: string, marker: RegExp): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound
      ? "no such file; `deno task certs` makes the plant's"
      : (error as Error).message;
    throw new Error(`Cannot read --${flag} "${path}": ${detail}`);
  }
  if (!marker.test(text)) throw new Error(`Cannot use --${flag} "${path}": not a PEM file`);
  return text;
}

/** `fetch` for one server, and how to release its connections. */
export interface ServerClient {
  readonly fetch: typeof fetch;
  /** Closes the connection pool (a no-op for plain HTTP). */
  close(): void;
}

/**
 * A `fetch` that verifies an `https://` server against the CA in `caPem`
 * (the plant CA, `--ca`). There is no way to turn verification off. For
 * `http://` it is the global `fetch` and `caPem` is not needed.
 */
export function serverClient(server: URL, caPem: string | undefined): ServerClient {
  if (server.protocol !== "https:") return { fetch, close: () => {} };
  if (caPem === undefined) throw new Error(`Cannot verify ${server.origin}: no CA certificate`);
  const client = Deno.createHttpClient({ caCerts: [caPem] });
  return {
    fetch: (input, init) => fetch(input, { ...init, client }),
    close: () => client.close(),
  };
}

/** Reads the `--ca` file an `https://` server must chain to; undefined for `http://`. */
export async function readCa(server: URL, path: string): Promise<string | undefined> {
  if (server.protocol !== "https:") return undefined;
  return await readPem("ca", path, /-----BEGIN CERTIFICATE-----/);
}

/**
 * Plain words for a request refused because the server's certificate did
 * not verify (`fetch` buries rustls's reason two causes deep), or undefined
 * when that was not the problem.
 */
export function certificateProblem(error: unknown): string | undefined {
  let text = "";
  for (let cause = error; cause instanceof Error; cause = cause.cause) text += ` ${cause.message}`;
  const reason = /invalid peer certificate: ([^\n]+)/i.exec(text)?.[1]?.trim();
  return reason === undefined
    ? undefined
    : `the server's certificate is not trusted (${reason}); ` +
      `it must be signed by the CA of --ca and name the host of --server`;
}

/**
 * Plain words for a failed `fetch` to `server`: the certificate problem, if
 * that was it, else the innermost cause's last clause (`fetch failed` ←
 * `error sending request for url (...): client error (Connect): tcp connect
 * error: Connection refused (os error 111)` says `Connection refused (os
 * error 111)`), with a hint when an `http://` URL reached a TLS server.
 */
export function fetchProblem(error: unknown, server: URL): string {
  const certificate = certificateProblem(error);
  if (certificate !== undefined) return certificate;
  let cause = error;
  while (cause instanceof Error && cause.cause !== undefined) cause = cause.cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  const detail = message.split("\n")[0]!.split(": ").at(-1)!;
  // What a plain-HTTP client gets from a TLS server.
  return server.protocol === "http:" && /invalid HTTP version/i.test(detail)
    ? `${detail} (is it an https:// server?)`
    : detail;
}
