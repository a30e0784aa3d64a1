/**
 * The server's socket: `Deno.serve` around the API handler, with the
 * shutdown order a write API needs. On abort it first runs `onAbort` (the
 * live feed closes its sockets), then waits for the requests in flight —
 * `Deno.serve`'s own shutdown would cut off a request whose body is still
 * arriving, and the handler already refuses new writes with 503 — for at
 * most {@linkcode DRAIN_TIMEOUT_MS}, then shuts the listener down.
 *
 * @module
 */

import { sleep } from "../static/shared/backoff.js";
import type { Logger } from "../lib/log.ts";
import { isLoopback, type TlsFiles } from "../lib/tls.ts";
import { internalError } from "./http.ts";

/** How long a shutdown waits for requests in flight (a body still arriving). */
export const DRAIN_TIMEOUT_MS = 10_000;

/** Where and how {@linkcode serveUntilAborted} listens. */
export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  /** Certificate and key: HTTPS (TLS 1.2 and 1.3); undefined: plain HTTP. */
  readonly tls?: TlsFiles | undefined;
  /** Whether reads need a token, for the start-up log line. */
  readonly readTokens?: boolean;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Runs first when `signal` aborts, before the drain. */
  readonly onAbort?: () => void;
}

/**
 * Serves `handler` on `host:port` until `signal` aborts and every request
 * in flight is answered; resolves once the listener is closed. Throws at
 * once, with what to do, when the address is taken.
 */
export function serveUntilAborted(
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>,
  options: ListenOptions,
): Promise<void> {
  const { host, port, signal, log } = options;
  let inFlight = 0;
  let drained = Promise.withResolvers<void>();
  const tracked = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    if (inFlight++ === 0) drained = Promise.withResolvers<void>();
    try {
      return await handler(request, info);
    } finally {
      if (--inFlight === 0) drained.resolve();
    }
  };
  const server = listen(() =>
    Deno.serve({
      hostname: host,
      port,
      ...options.tls,
      onListen: ({ hostname, port }) => {
        const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
        log.info(`listening on ${shown}:${port}`);
        log.info("access", {
          scheme: options.tls ? "https" : "http",
          reads: options.readTokens ? "read token" : "open",
        });
        if (!options.tls && !isLoopback(host)) {
          log.warn("serving plain HTTP off loopback (--plaintext): readings and tokens in clear");
        }
      },
      onError: (error) => internalError(error, log),
    }, tracked), options);
  signal.addEventListener("abort", async () => {
    options.onAbort?.();
    if (inFlight > 0) {
      log.info("finishing requests in flight", { requests: inFlight });
      await Promise.race([drained.promise, sleep(DRAIN_TIMEOUT_MS)]);
    }
    await server.shutdown();
  }, { once: true });
  return server.finished;
}

/** Runs `serve`, turning a busy port into a message that says what to do. */
function listen(
  serve: () => Deno.HttpServer,
  address: { host: string; port: number },
): Deno.HttpServer {
  try {
    return serve();
  } catch (error) {
    if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    throw new Error(
      `Cannot listen on ${address.host}:${address.port}: the address is already in use ` +
        `(another server running? pick another with --port, or --port 0 for any free one)`,
    );
  }
}
