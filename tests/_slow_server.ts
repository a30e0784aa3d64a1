/**
 * A server slower than the sensors, for the overload tests: the project's
 * own HTTP handler and SQLite store on a real socket, whose writer stores
 * at most a fixed number of readings per second — a plant server on a slow
 * disk, made to order. It can stop answering (its socket closed: connection
 * refused, as when the server is down) and come back on the same port with
 * the same store.
 *
 * @module
 */

import { createHandler } from "../server/handler.ts";
import { Metrics } from "../server/metrics.ts";
import { sqliteStorage } from "../server/sqlite_storage.ts";
import type { WriteResult } from "../server/storage.ts";
import { openStore, type Store } from "../server/store.ts";
import { GroupWriter, type Writer } from "../server/writer.ts";
import type { Reading } from "../protocol/mod.ts";

/** Stores through `inner`, one request after the other, at most `ratePerSecond` readings/s. */
class PacedWriter implements Writer {
  #inner: Writer;
  #msPerReading: number;
  /** When the writer is free again (performance.now()). */
  #freeAt = 0;

  constructor(inner: Writer, ratePerSecond: number) {
    this.#inner = inner;
    this.#msPerReading = 1000 / ratePerSecond;
  }

  async write(readings: readonly Reading[]): Promise<WriteResult> {
    const now = performance.now();
    this.#freeAt = Math.max(now, this.#freeAt) + readings.length * this.#msPerReading;
    await new Promise((resolve) => setTimeout(resolve, this.#freeAt - now));
    return await this.#inner.write(readings);
  }

  deleteBefore(cutoff: number, limit: number): Promise<{ deleted: number; done: boolean }> {
    return this.#inner.deleteBefore(cutoff, limit);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A running slow server; see the module doc. */
export interface SlowServer extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
  /** Stops answering: the socket closes, connections are refused. */
  down(): Promise<void>;
  /** Answers again, on the same port with the same store. */
  up(): void;
  /** Readings stored so far (duplicates not counted). */
  stored(): number;
}

/** Starts a server storing at most `ratePerSecond` readings/s, taking `token`. */
export function startSlowServer(
  options: { ratePerSecond: number; token: string; path?: string },
): SlowServer {
  const store: Store = openStore(options.path ?? ":memory:");
  const metrics = new Metrics();
  let stored = 0;
  const writer = new PacedWriter(
    new GroupWriter(store, {
      onCommit: (info) => {
        stored += info.stored;
        metrics.commit(info.stored, info.duplicates, info.seconds);
      },
    }),
    options.ratePerSecond,
  );
  const handler = createHandler(sqliteStorage(store), { token: options.token, writer, metrics });
  let port = 0;
  let server: Deno.HttpServer | undefined;
  const up = () => {
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
    port = (server.addr as Deno.NetAddr).port;
  };
  up();
  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    async down() {
      await server?.shutdown();
      server = undefined;
    },
    up,
    stored: () => stored,
    async [Symbol.asyncDispose]() {
      await server?.shutdown();
      await writer.close();
      store.close();
    },
  };
}
