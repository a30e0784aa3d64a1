/**
 * The committer's early commit while the forwarder has nothing in flight:
 * a batch of IDLE_COMMIT_READINGS is committed (and so posted) at once
 * rather than after the flush interval, and while a request is in flight
 * it waits for its answer. A real spool and a real forwarder against an
 * HTTP peer that holds its answers; the flush interval is a minute, so a
 * commit seen within the test came early.
 */
import assert from "node:assert/strict";
import { type CommitParty, Committer, IDLE_COMMIT_READINGS } from "../gateway/committer.ts";
import { Forwarder } from "../gateway/forwarder.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { openSpool } from "../gateway/spool.ts";
import { createLogger } from "../lib/log.ts";
import { waitUntil } from "./_link.ts";
import { testReading } from "./_reading.ts";
import { commitReadings } from "./_spool.ts";

const FLUSH_MS = 60_000;

/** A peer that holds every request until the test answers it. */
function startHoldingPeer() {
  const held: { readings: number; answer: (response: Response) => void }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json() as unknown[];
    const { promise, resolve } = Promise.withResolvers<Response>();
    held.push({ readings: body.length, answer: resolve });
    return await promise;
  });
  return { server, held, url: new URL(`http://127.0.0.1:${server.addr.port}`) };
}

function setup(maxReadings: number) {
  const peer = startHoldingPeer();
  const spool = openSpool(":memory:", { maxReadings: 1_000_000 });
  const metrics = new GatewayMetrics();
  const log = createLogger("gateway", { write: () => {} });
  const forwarder = new Forwarder(spool, {
    server: peer.url,
    token: "t",
    metrics,
    log,
    maxReadings,
  });
  const committer = new Committer(spool, { flushMs: FLUSH_MS, drain: forwarder, metrics, log });
  const running = forwarder.run();
  const acks = { committed: 0 };
  const party: CommitParty = { committed: () => acks.committed++, commitFailed: () => {} };
  const add = (from: number, n: number) => {
    for (let seq = from; seq < from + n; seq++) committer.add(testReading(1, seq), party);
  };
  const close = async () => {
    forwarder.stop(0);
    for (const request of peer.held) request.answer(new Response(null, { status: 503 }));
    await running;
    committer.flush();
    spool.close();
    await peer.server.shutdown();
  };
  return { peer, spool, committer, acks, add, close };
}

/** Lets timers due now (a commit set for the next turn) run. */
const nextTurns = () => new Promise((resolve) => setTimeout(resolve, 50));

Deno.test("Committer commits an early batch at once while the forwarder has nothing in flight", async () => {
  const { peer, spool, committer, acks, add, close } = setup(10_000);
  try {
    add(1, IDLE_COMMIT_READINGS - 1);
    await nextTurns();
    assert.equal(committer.pending, IDLE_COMMIT_READINGS - 1, "one short: waits");
    assert.equal(spool.depth, 0);
    add(IDLE_COMMIT_READINGS, 1);
    await waitUntil(() => peer.held.length === 1, 10_000, "the batch posted");
    assert.equal(peer.held[0]!.readings, IDLE_COMMIT_READINGS);
    assert.equal(committer.pending, 0);
    assert.equal(acks.committed, 1, "its sender heard the commit");
  } finally {
    await close();
  }
});

Deno.test("Committer holds an early batch while a request is in flight, until it is answered", async () => {
  const { peer, spool, committer, add, close } = setup(10_000);
  try {
    commitReadings(spool, [testReading(2, 1)]);
    await waitUntil(() => peer.held.length === 1, 10_000, "a request in flight");
    add(1, IDLE_COMMIT_READINGS);
    await nextTurns();
    assert.equal(committer.pending, IDLE_COMMIT_READINGS, "a request in flight: not committed");
    peer.held[0]!.answer(Response.json({ stored: 1, duplicates: 0 }));
    await waitUntil(() => peer.held.length === 2, 10_000, "the batch posted after the answer");
    assert.equal(peer.held[1]!.readings, IDLE_COMMIT_READINGS);
    assert.equal(committer.pending, 0);
    assert.equal(spool.depth, IDLE_COMMIT_READINGS);
  } finally {
    await close();
  }
});
