/**
 * Which server the forwarder posts to next, when the gateway has several
 * (`--server URL,URL,...`, servers sharing one PostgreSQL store).
 *
 * Requests go round-robin over the servers that are up, so the load is
 * spread while all answer. A server that fails a request is down for the
 * request's retry delay (its `Retry-After`, else a backoff that grows with
 * its run of failures) and the next request goes to another one at once:
 * one server stopping costs one failed request, not a backoff. Only when
 * every server is down does the forwarder wait, until the first is due.
 * A reading a dying server may have stored before failing is posted again
 * elsewhere; the store counts it as a duplicate.
 *
 * Pure: the clock is passed in.
 *
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServerPool } from "./server_pool.ts";
 *
 * const pool = new ServerPool(["http://a:8080/", "http://b:8080/"]);
 * assert.equal(pool.pick(0).url, "http://a:8080/");
 * assert.equal(pool.pick(0).url, "http://b:8080/");
 * pool.failed(0, 0, 1_000);
 * assert.equal(pool.pick(10).url, "http://b:8080/");
 * assert.equal(pool.pick(10).url, "http://b:8080/");
 * assert.equal(pool.waitMs(10), 0);
 * pool.failed(1, 10, 5_000);
 * assert.equal(pool.waitMs(10), 990); // a is due first
 * ```
 *
 * @module
 */

interface Server {
  readonly url: string;
  /** Failed requests in a row. */
  failures: number;
  /** Until when (ms, the caller's clock) it is not picked while another is up. */
  downUntil: number;
}

/** The servers and their state; see the module doc. */
export class ServerPool {
  readonly #servers: Server[];
  #next = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new RangeError("Cannot forward: no server URL");
    this.#servers = urls.map((url) => ({ url, failures: 0, downUntil: -Infinity }));
  }

  /** How many servers there are. */
  get size(): number {
    return this.#servers.length;
  }

  /**
   * The server for the next request: the next one up in round-robin order,
   * or, when all are down, the one due first.
   */
  pick(now: number): { index: number; url: string; failures: number } {
    const servers = this.#servers;
    let chosen = -1;
    for (let step = 0; step < servers.length; step++) {
      const index = (this.#next + step) % servers.length;
      if (servers[index]!.downUntil <= now) {
        chosen = index;
        break;
      }
    }
    if (chosen < 0) {
      chosen = 0;
      for (let index = 1; index < servers.length; index++) {
        if (servers[index]!.downUntil < servers[chosen]!.downUntil) chosen = index;
      }
    }
    this.#next = (chosen + 1) % servers.length;
    const server = servers[chosen]!;
    return { index: chosen, url: server.url, failures: server.failures };
  }

  /** Server `index` answered 2xx: it is up. */
  succeeded(index: number): void {
    const server = this.#servers[index]!;
    server.failures = 0;
    server.downUntil = -Infinity;
  }

  /** Server `index` failed a request at `now`: down for `retryMs`. */
  failed(index: number, now: number, retryMs: number): void {
    const server = this.#servers[index]!;
    server.failures++;
    server.downUntil = now + retryMs;
  }

  /** How long until some server is up: 0 when one is. */
  waitMs(now: number): number {
    let due = Infinity;
    for (const server of this.#servers) due = Math.min(due, server.downUntil);
    return Math.max(0, due - now);
  }
}
