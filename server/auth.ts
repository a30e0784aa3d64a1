/**
 * Who may do what on the server: every route is `open` (`/healthz`, the
 * dashboard's files), `read` (the API, `/api/live`, `/metrics`) or `write`
 * (`POST /api/data`). Writes need an ingest token; reads need a read token
 * when the server has any (`--read-token-file`), and are open otherwise. A
 * read token cannot write and the ingest token cannot read (403), so a
 * stolen dashboard token cannot forge readings and the gateway's token
 * cannot leak the plant's values.
 *
 * A token comes in `Authorization: Bearer TOKEN`. A browser cannot set that
 * header on a WebSocket, so `/api/live` also takes it as the subprotocol
 * `vigia.token.TOKEN` next to `vigia.live`, the protocol the server answers
 * with (the token is never echoed).
 *
 * Failed attempts — a token presented and refused, 401 or 403 — are
 * counted per client address by a {@linkcode FailureLimiter}: after ten in a
 * minute, every request from that address gets 429 with `Retry-After` until
 * the oldest of them is a minute old, so guessing runs at ten tries a
 * minute at most. The check comes before the token is looked at, so a right
 * guess is refused too while the address is held back. A request with no
 * token at all guesses nothing and is not counted (a browser before its
 * user has typed the token must not lock the address out). Each failure is
 * logged with the address, the path and why, never with the token.
 *
 * @module
 */

import type { Logger } from "../lib/log.ts";
import { TokenFile } from "../lib/token_file.ts";
import { HttpError } from "./http.ts";

/** What a route needs. */
export type Access = "open" | "read" | "write";

/** Anything that says whether a token is accepted (a `TokenFile`, a `TokenSet`). */
export interface TokenMatcher {
  matches(candidate: string): boolean;
}

/** The WebSocket subprotocol the live feed answers with. */
export const LIVE_PROTOCOL = "vigia.live";
/** Prefix of the subprotocol that carries a token on a WebSocket upgrade. */
export const TOKEN_PROTOCOL_PREFIX = "vigia.token.";

/** Options of {@linkcode FailureLimiter}. */
export interface LimiterOptions {
  /** Failures within `windowMs` after which an address is held back (default 10). */
  readonly maxFailures?: number;
  /** The window, ms (default 60,000). */
  readonly windowMs?: number;
  /** Addresses remembered at once; beyond it the least recently failed is forgotten (default 10,000). */
  readonly maxAddresses?: number;
  /** The clock, ms. */
  readonly now: () => number;
}

/** Failed attempts per client address within a sliding window; see the module doc. */
export class FailureLimiter {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  /** Times of the latest failures (at most `maxFailures`), oldest first, by address; LRU order. */
  readonly #failures = new Map<string, number[]>();

  constructor(options: LimiterOptions) {
    this.#maxFailures = options.maxFailures ?? 10;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
    this.#now = options.now;
  }

  /** Ms until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string): number {
    const times = this.#recent(address);
    if (times.length < this.#maxFailures) return 0;
    return times[0]! + this.#windowMs - this.#now();
  }

  /** Records a failure of `address`; returns its failures within the window, this one included. */
  fail(address: string): number {
    const times = this.#recent(address);
    times.push(this.#now());
    if (times.length > this.#maxFailures) times.shift();
    this.#failures.delete(address); // re-inserted last: most recently failed
    this.#failures.set(address, times);
    if (this.#failures.size > this.#maxAddresses) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
    return times.length;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.#failures.size;
  }

  #recent(address: string): number[] {
    const times = this.#failures.get(address);
    if (times === undefined) return [];
    const since = this.#now() - this.#windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length === 0) this.#failures.delete(address);
    return times;
  }
}

/** Options of {@linkcode createAuthorizer}. */
export interface AuthOptions {
  /** Tokens that may write (`POST /api/data`). */
  readonly ingest: TokenMatcher;
  /** Tokens that may read; undefined leaves reads open. */
  readonly read?: TokenMatcher | undefined;
  readonly limiter: FailureLimiter;
  readonly log?: Logger | undefined;
}

/** Checks a request's access; throws the {@linkcode HttpError} to answer with. */
export type Authorizer = (request: Request, access: Access, address: string) => void;

/** The access check of the handler; see the module doc. */
export function createAuthorizer(options: AuthOptions): Authorizer {
  const { ingest, read, limiter, log } = options;
  return (request, access, address) => {
    if (access === "open" || (access === "read" && read === undefined)) return;
    const retryMs = limiter.retryAfterMs(address);
    if (retryMs > 0) {
      throw new HttpError(429, "Cannot authenticate: too many failed attempts; try again later", {
        headers: { "retry-after": String(Math.ceil(retryMs / 1000)) },
      });
    }
    const token = bearerToken(request);
    const [granted, other] = access === "write" ? [ingest, read] : [read!, ingest];
    if (token !== undefined && granted.matches(token)) return;
    const action = access === "write" ? "Cannot store readings" : "Cannot read";
    const crossUse = token !== undefined && other?.matches(token) === true;
    const reason = token === undefined
      ? "no bearer token"
      : crossUse
      ? (access === "write" ? "a read token cannot write" : "the ingest token cannot read")
      : "wrong bearer token";
    const path = new URL(request.url).pathname.slice(0, 100);
    if (token === undefined) {
      log?.debug("refused request", { address, path, reason });
    } else {
      const failures = limiter.fail(address);
      log?.warn("refused request", { address, path, reason, failures_in_window: failures });
    }
    if (crossUse) {
      throw new HttpError(403, `${action}: ${reason}`, {
        headers: { "www-authenticate": 'Bearer realm="vigia", error="insufficient_scope"' },
      });
    }
    throw new HttpError(401, `${action}: missing or wrong bearer token`, {
      headers: { "www-authenticate": 'Bearer realm="vigia"' },
    });
  };
}

/** The token of `Authorization: Bearer TOKEN`, or of a `vigia.token.TOKEN` WebSocket subprotocol. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  if (header !== null) return /^bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1];
  const protocols = request.headers.get("sec-websocket-protocol");
  if (protocols === null) return undefined;
  return protocols.split(",").map((protocol) => protocol.trim())
    .find((protocol) => protocol.startsWith(TOKEN_PROTOCOL_PREFIX))
    ?.slice(TOKEN_PROTOCOL_PREFIX.length);
}

/**
 * The ingest and read token files (`--token-file`, `--read-token-file`),
 * watched until `signal` aborts. No token may be in both: a read token must
 * not write, nor the ingest token read.
 */
export async function openTokenFiles(
  ingestPath: string,
  readPath: string | undefined,
  options: { readonly signal: AbortSignal; readonly log: Logger },
): Promise<{ ingest: TokenFile; read: TokenFile | undefined }> {
  let read: TokenFile | undefined;
  const ingest = await TokenFile.open(ingestPath, {
    ...options,
    flag: "token-file",
    check: (tokens) =>
      read?.tokens.overlaps(tokens) ? "a token is also in --read-token-file" : undefined,
  });
  if (readPath !== undefined) {
    read = await TokenFile.open(readPath, {
      ...options,
      flag: "read-token-file",
      check: (tokens) =>
        ingest.tokens.overlaps(tokens) ? "a token is also in --token-file" : undefined,
    });
  }
  return { ingest, read };
}
