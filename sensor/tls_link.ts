/**
 * The sensor's mutual-TLS connection to the gateway, with Nagle's algorithm
 * off (TCP_NODELAY).
 *
 * Why not `Deno.connectTls`: its connection cannot set TCP_NODELAY, so a
 * small write made while an earlier one is not yet acknowledged by the
 * gateway's TCP stack waits in the kernel for that acknowledgement (Nagle's
 * algorithm), and the gateway's kernel delays it (delayed ACK, 40 ms and
 * more on Linux) until the gateway next sends something — its next ACK
 * frame, after its next commit. A sensor measuring every few milliseconds
 * then sends its readings in bursts tens of milliseconds late, and they
 * reach the gateway just after a commit, to wait for the next one. A
 * `node:tls` socket can set TCP_NODELAY; this module gives it the small
 * `read`/`write`/`close` surface the session uses.
 *
 * @module
 */

import tls from "node:tls";
import { isIP } from "node:net";

/** What a sensor session needs of its connection. */
export interface LinkConn {
  /** Reads into `buffer`; the number of bytes, or null at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes all of `bytes` (the buffer may be reused once this resolves). */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; pending reads end with null. Safe to call twice. */
  close(): void;
}

/** Where and as whom to connect. */
export interface LinkTlsOptions {
  readonly hostname: string;
  readonly port: number;
  /** PEM of the plant CA, this sensor's certificate and key. */
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  /** The TCP connect and the TLS handshake together may take this long, in ms. */
  readonly timeoutMs: number;
}

/** Bytes received and not yet read past which the socket stops reading. */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * Connects and completes the handshake (the gateway's certificate checked
 * against the CA and `hostname`); rejects with the reason on failure or
 * timeout.
 */
export function connectLinkTls(options: LinkTlsOptions): Promise<LinkConn> {
  const { hostname, port, caCert, cert, key, timeoutMs } = options;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: hostname,
      port,
      // SNI carries names only; an IP address is still checked against the certificate.
      ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
      ca: caCert,
      cert,
      key,
    });
    socket.setNoDelay(true);
    const timer = setTimeout(() => fail(new Error("connect timed out")), timeoutMs);
    const fail = (error: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      // The code (CERT_HAS_EXPIRED, ...) is what describeConnectFailure() reads.
      const code = error.code && !error.message.includes(error.code) ? ` (${error.code})` : "";
      reject(new Error(`${error.message}${code}`, { cause: error }));
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(new SocketConn(socket));
    });
  });
}

/** A `node:tls` socket read and written as a {@linkcode LinkConn}. */
class SocketConn implements LinkConn {
  #socket: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #reader: (() => void) | undefined;

  constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    const wake = () => {
      const reader = this.#reader;
      this.#reader = undefined;
      reader?.();
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > MAX_QUEUED_BYTES) socket.pause();
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      wake();
    });
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#reader = resolve);
    }
    let n = 0;
    while (n < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0]!;
      const take = Math.min(chunk.length, buffer.length - n);
      buffer.set(chunk.subarray(0, take), n);
      n += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#queued -= n;
    if (this.#queued <= MAX_QUEUED_BYTES && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended || this.#socket.destroyed) {
      return Promise.reject(new Error("the connection is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#socket.write(bytes, (error?: Error | null) => error ? reject(error) : resolve());
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.();
  }
}
