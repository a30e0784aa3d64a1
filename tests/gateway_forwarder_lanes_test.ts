/**
 * The forwarder's two requests in flight: against a real HTTP peer that
 * holds its answers, each request owns its rows, a 2xx deletes exactly
 * that request's rows, and a failure of one never loses or doubles the
 * other's.
 */
import assert from "node:assert/strict";
import { Forwarder } from "../gateway/forwarder.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { openSpool } from "../gateway/spool.ts";
import { createLogger } from "../lib/log.ts";
import { parseReadingJson } from "../protocol/mod.ts";
import { waitUntil } from "./_link.ts";
import { testReading } from "./_reading.ts";
import { commitReadings } from "./_spool.ts";

interface Held {
  readonly seqs: number[];
  readonly answer: (response: Response) => void;
}

/** A peer that holds every request until the test answers it. */
function startHoldingPeer() {
  const held: Held[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json() as unknown[];
    const { promise, resolve } = Promise.withResolvers<Response>();
    held.push({ seqs: body.map((item) => parseReadingJson(item).seq), answer: resolve });
    return await promise;
  });
  return { server, held, url: new URL(`http://127.0.0.1:${server.addr.port}`) };
}

function setup(url: URL) {
  const spool = openSpool(":memory:", { maxReadings: 1_000_000 });
  const metrics = new GatewayMetrics();
  const forwarder = new Forwarder(spool, {
    server: url,
    token: "secret-token",
    metrics,
    log: createLogger("gateway", { write: () => {} }),
    maxReadings: 2,
    backoff: { baseMs: 20, maxMs: 50 },
  });
  return { spool, metrics, forwarder, running: forwarder.run() };
}

const stored = (n: number) => Response.json({ stored: n, duplicates: 0 });

Deno.test("Forwarder keeps two requests in flight, each with its own rows", async () => {
  const peer = startHoldingPeer();
  const { spool, metrics, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(1, 1), testReading(1, 2)]);
    commitReadings(spool, [testReading(1, 3), testReading(1, 4)]);
    commitReadings(spool, [testReading(1, 5), testReading(1, 6)]);
    forwarder.notify();
    await waitUntil(() => peer.held.length === 2, 10_000, "two requests held");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(peer.held.length, 2, "no third request while two are unanswered");
    const [first, second] = peer.held as [Held, Held];
    assert.equal(new Set([...first.seqs, ...second.seqs]).size, 4, "disjoint rows");

    // The second answered first: only its rows go.
    second.answer(stored(2));
    await waitUntil(() => peer.held.length === 3, 10_000, "a third request held");
    assert.equal(spool.depth, 4);
    const third = peer.held[2]!;
    const all = [...first.seqs, ...second.seqs, ...third.seqs].sort((a, b) => a - b);
    assert.deepEqual(all, [1, 2, 3, 4, 5, 6], "every row in exactly one request");
    first.answer(stored(2));
    third.answer(stored(2));
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.equal(metrics.values.forwarded, 6);
    assert.equal(metrics.values.forward_requests, 3);
  } finally {
    forwarder.stop(1000);
    for (const request of peer.held) request.answer(stored(0));
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder retries only the failed request's rows, and the other's are not sent again", async () => {
  const peer = startHoldingPeer();
  const { spool, metrics, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(1, 1), testReading(1, 2)]);
    commitReadings(spool, [testReading(1, 3), testReading(1, 4)]);
    forwarder.notify();
    await waitUntil(() => peer.held.length === 2, 10_000, "two requests held");
    const [first, second] = peer.held as [Held, Held];
    first.answer(Response.json({ error: "busy" }, { status: 500 }));
    second.answer(stored(2));
    await waitUntil(() => peer.held.length === 3, 10_000, "a third request held");
    assert.deepEqual(peer.held[2]!.seqs, first.seqs, "the failed rows, and only those, again");
    peer.held[2]!.answer(stored(2));
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(peer.held.length, 3);
    assert.equal(metrics.values.forwarded, 4);
    assert.equal(metrics.values.forward_retries, 1);
  } finally {
    forwarder.stop(1000);
    for (const request of peer.held) request.answer(stored(0));
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder probes a failing server with one request at a time", async () => {
  let requests = 0;
  let concurrent = 0;
  let mostAfterFirstFailures = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    // The first two may overlap (both lanes were busy when the server failed).
    if (++requests > 2) mostAfterFirstFailures = Math.max(mostAfterFirstFailures, concurrent + 1);
    concurrent++;
    await req.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 20));
    concurrent--;
    return Response.json({ error: "down" }, { status: 503 });
  });
  const { spool, forwarder, running } = setup(new URL(`http://127.0.0.1:${server.addr.port}`));
  try {
    for (let seq = 1; seq <= 10; seq += 2) {
      commitReadings(spool, [testReading(1, seq), testReading(1, seq + 1)]);
    }
    forwarder.notify();
    await waitUntil(() => requests >= 10, 10_000, "ten requests");
    assert.equal(mostAfterFirstFailures, 1);
    assert.equal(spool.depth, 10, "nothing deleted without a 2xx");
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await server.shutdown();
  }
});
