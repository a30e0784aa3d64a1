/**
 * The forwarder against a real HTTP peer on 127.0.0.1 that speaks the
 * `POST /api/data` contract and can be told to fail: what is deleted from
 * the spool, when, and what is retried.
 */
import assert from "node:assert/strict";
import { Forwarder } from "../gateway/forwarder.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { parseReadingJson } from "../protocol/mod.ts";
import { openSpool } from "../gateway/spool.ts";
import { createLogger } from "../lib/log.ts";
import { waitUntil } from "./_link.ts";
import { testReading } from "./_reading.ts";
import { commitReadings } from "./_spool.ts";

type Answer = (body: unknown[], attempt: number) => Response | Promise<Response>;

/** An ingest peer: records every request body; `answer` decides the response. */
function startPeer(answer: Answer) {
  const requests: { body: unknown[]; auth: string | null; type: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json() as unknown[];
    requests.push({
      body,
      auth: req.headers.get("authorization"),
      type: req.headers.get("content-type"),
    });
    return answer(body, requests.length);
  });
  return { server, requests, url: new URL(`http://127.0.0.1:${server.addr.port}`) };
}

function stored(body: unknown[]) {
  return Response.json({ stored: body.length, duplicates: 0 });
}

function setup(url: URL) {
  const lines: string[] = [];
  const spool = openSpool(":memory:", { maxReadings: 1_000_000 });
  const metrics = new GatewayMetrics();
  const forwarder = new Forwarder(spool, {
    server: url,
    token: "secret-token",
    metrics,
    log: createLogger("gateway", { write: (line) => lines.push(line) }),
    backoff: { baseMs: 20, maxMs: 100 },
  });
  const running = forwarder.run();
  return { spool, metrics, forwarder, running, lines };
}

Deno.test("Forwarder posts spooled readings as JSON with the token and deletes them after 2xx", async () => {
  const peer = startPeer(stored);
  const { spool, metrics, forwarder, running, lines } = setup(peer.url);
  try {
    const readings = [testReading(1, 1), testReading(1, 2), testReading(2, 1)];
    commitReadings(spool, readings);
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.equal(peer.requests.length, 1);
    const request = peer.requests[0]!;
    assert.equal(request.auth, "Bearer secret-token");
    assert.equal(request.type, "application/json");
    assert.deepEqual(request.body.map(parseReadingJson), readings);
    assert.equal(metrics.values.forwarded, 3);
    assert.ok(!lines.join("\n").includes("secret-token"), "the token is never logged");
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder sends an out-of-ISO-range timestamp as epoch milliseconds", async () => {
  const peer = startPeer(stored);
  const { spool, forwarder, running } = setup(peer.url);
  try {
    const far = { ...testReading(1, 1), timestamp: 300_000_000_000_000 };
    commitReadings(spool, [far]);
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    const body = peer.requests[0]!.body[0] as Record<string, unknown>;
    assert.equal(body.timestamp, 300_000_000_000_000);
    assert.deepEqual(parseReadingJson(body), far);
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder keeps readings through 503 and honours Retry-After", async () => {
  const peer = startPeer((body, attempt) =>
    attempt === 1
      ? Response.json({ error: "shutting down" }, { status: 503, headers: { "retry-after": "1" } })
      : stored(body)
  );
  const { spool, metrics, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(1, 1), testReading(1, 2)]);
    const started = Date.now();
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.ok(Date.now() - started >= 900, "waited for Retry-After: 1");
    assert.equal(peer.requests.length, 2);
    assert.deepEqual(peer.requests[1]!.body, peer.requests[0]!.body);
    assert.equal(metrics.values.forward_retries, 1);
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder retries 429, 500 and 401 with backoff and never drops", async () => {
  const statuses = [429, 500, 401];
  const peer = startPeer((body, attempt) =>
    attempt <= statuses.length
      ? Response.json({ error: "no" }, { status: statuses[attempt - 1]! })
      : stored(body)
  );
  const { spool, metrics, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(3, 1)]);
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.equal(peer.requests.length, 4);
    assert.equal(metrics.values.forward_retries, 3);
    assert.equal(metrics.values.forwarded, 1);
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder holds the backlog while the server is down and drains it afterwards", async () => {
  // Find a free port, then leave it closed: connections are refused.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const { spool, metrics, forwarder, running } = setup(new URL(`http://127.0.0.1:${port}`));
  let server: Deno.HttpServer | undefined;
  try {
    commitReadings(spool, [testReading(1, 1), testReading(1, 2)]);
    forwarder.notify();
    await waitUntil(
      () => metrics.values.forward_retries >= 2,
      10_000,
      "metrics.values.forward_retries >= 2",
    );
    assert.equal(spool.depth, 2);
    commitReadings(spool, [testReading(1, 3)]);
    const received: unknown[] = [];
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
      const body = await req.json() as unknown[];
      received.push(...body);
      return stored(body);
    });
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.deepEqual(
      received.map(parseReadingJson).map((r) => r.seq).sort(),
      [1, 2, 3],
    );
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await server?.shutdown();
  }
});

Deno.test("Forwarder moves a reading refused with 400 and an index aside, and stores the rest", async () => {
  const peer = startPeer((body) => {
    const index = body.findIndex((r) => (r as { seq: number }).seq === 2);
    return index >= 0
      ? Response.json({ error: "temperature: bad", index }, { status: 400 })
      : stored(body);
  });
  const { spool, metrics, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(1, 1), testReading(1, 2), testReading(1, 3)]);
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.deepEqual(
      peer.requests.at(-1)!.body.map((r) => (r as { seq: number }).seq),
      [1, 3],
    );
    assert.equal(metrics.values.forward_rejected, 1);
    assert.equal(metrics.values.forwarded, 2);
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder alternates oldest and newest rows while a backlog is larger than one request", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const peer = startPeer(async (body) => {
    await gate;
    return stored(body);
  });
  const { spool, forwarder, running } = setup(peer.url);
  try {
    // 3 rows of 10,000: more than one request's worth.
    for (let row = 0; row < 3; row++) {
      commitReadings(
        spool,
        Array.from({ length: 10_000 }, (_, i) => testReading(1, row * 10_000 + i + 1)),
      );
    }
    forwarder.notify();
    release();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    // The two lanes start together, so the first two requests may reach the
    // peer in either order; the third is the oldest lane's second take.
    const firstSeqs = peer.requests.map((r) => (r.body[0] as { seq: number }).seq);
    assert.deepEqual([...firstSeqs.slice(0, 2)].sort((a, b) => a - b), [1, 20_001]);
    assert.deepEqual(firstSeqs.slice(2), [10_001]);
  } finally {
    forwarder.stop(1000);
    await running;
    spool.close();
    await peer.server.shutdown();
  }
});

Deno.test("Forwarder.stop() aborts a hung request after the grace period and keeps its rows", async () => {
  let hung!: () => void;
  const answered = new Promise<void>((resolve) => (hung = resolve));
  const peer = startPeer(async (body) => {
    await answered;
    return stored(body);
  });
  const { spool, forwarder, running } = setup(peer.url);
  try {
    commitReadings(spool, [testReading(1, 1)]);
    forwarder.notify();
    await waitUntil(() => peer.requests.length === 1, 10_000, "the request");
    const started = Date.now();
    forwarder.stop(200);
    await running;
    assert.ok(Date.now() - started < 5_000);
    assert.equal(spool.depth, 1);
  } finally {
    hung();
    spool.close();
    await peer.server.shutdown();
  }
});
