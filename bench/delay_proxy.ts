/**
 * A TCP proxy that holds every chunk for `delayMs` in each direction, so a
 * server on this machine answers the gateway as one `2 × delayMs` away
 * would (another site, a cloud region). Used by the pipeline benchmark's
 * `--server-delay-ms` and by the far-server test. Order is kept in each
 * direction; a connection's end is passed on after its last chunk. It
 * reads as fast as the sender writes (chunks wait in memory, not in the
 * sender's socket), which is fine for the gateway's requests: a lane sends
 * one and waits for its answer.
 *
 * @module
 */

/** A running {@linkcode startDelayProxy}. */
export interface DelayProxy extends AsyncDisposable {
  /** The port it listens on, at 127.0.0.1. */
  readonly port: number;
  /** Stops listening and closes every connection. */
  close(): void;
}

/** Listens on 127.0.0.1, port 0, and forwards each connection to `target` with `delayMs` each way. */
export function startDelayProxy(
  target: { readonly hostname: string; readonly port: number },
  delayMs: number,
): DelayProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const close = (conn: Deno.Conn) => {
    if (open.delete(conn)) conn.close();
  };
  (async () => {
    for await (const client of listener) {
      let server: Deno.TcpConn;
      try {
        server = await Deno.connect(target);
      } catch {
        client.close();
        continue;
      }
      for (const conn of [client, server]) {
        conn.setNoDelay(true);
        open.add(conn);
      }
      const both = () => [client, server].forEach(close);
      pipe(client, server, { delayMs, fail: both }).finally(both);
      pipe(server, client, { delayMs, fail: both }).finally(both);
    }
  })().catch(() => {}); // the listener was closed
  const stop = () => {
    listener.close();
    for (const conn of [...open]) close(conn);
  };
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: stop,
    [Symbol.asyncDispose]: () => Promise.resolve(stop()),
  };
}

/**
 * Copies `from` to `to`, each chunk written `delayMs` after it was read;
 * `fail` is called when a write fails (the other side went away).
 */
async function pipe(
  from: Deno.Conn,
  to: Deno.Conn,
  { delayMs, fail }: { readonly delayMs: number; readonly fail: () => void },
): Promise<void> {
  let written = Promise.resolve();
  try {
    for (;;) {
      const buffer = new Uint8Array(64 * 1024);
      const n = await from.read(buffer);
      if (n === null) break;
      const due = performance.now() + delayMs;
      written = written.then(async () => {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        for (let offset = 0; offset < n;) offset += await to.write(buffer.subarray(offset, n));
      }).catch(fail);
    }
    await written;
    await to.closeWrite();
  } catch {
    // Either side went away, or `fail` closed them.
  }
}
