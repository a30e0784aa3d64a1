/**
 * The forwarder with its HTTP client handed in: what it sends and how it
 * reads answers no real server gives on demand (a lost connection, a body
 * that breaks after a 2xx, a request that never ends). The real-server
 * contract is in gateway_forwarder_test.ts.
 */
import assert from "node:assert/strict";
import { Forwarder } from "../gateway/forwarder.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { openSpool } from "../gateway/spool.ts";
import { createLogger } from "../lib/log.ts";
import { waitUntil } from "./_link.ts";
import { testReading } from "./_reading.ts";
import { commitReadings } from "./_spool.ts";

interface Call {
  readonly url: string;
  readonly init: RequestInit;
  readonly body: unknown[];
}

/** A `fetch` that records each call and answers with `answer(call number)`. */
function fakeFetch(answer: (attempt: number, init: RequestInit) => Promise<Response>) {
  const calls: Call[] = [];
  const fetch = (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const body = JSON.parse(new TextDecoder().decode(init.body as Uint8Array)) as unknown[];
    calls.push({ url: String(input), init, body });
    return answer(calls.length, init);
  };
  return { calls, fetch: fetch as typeof globalThis.fetch };
}

function setup(fetch: typeof globalThis.fetch, options: { fifoReadings?: () => number } = {}) {
  const lines: string[] = [];
  const spool = openSpool(":memory:", { maxReadings: 1_000_000 });
  const metrics = new GatewayMetrics();
  const forwarder = new Forwarder(spool, {
    server: new URL("http://plant-server.invalid:8080/base"),
    token: "secret-token",
    metrics,
    log: createLogger("gateway", { write: (line) => lines.push(line) }),
    backoff: { baseMs: 10, maxMs: 20 },
    fetch,
    ...options,
  });
  const running = forwarder.run();
  return { spool, metrics, forwarder, running, lines };
}

const stored = (body: unknown[], duplicates = 0) =>
  Response.json({ stored: body.length - duplicates, duplicates });

Deno.test("Forwarder wakes on the spool's commit and posts to <server>/api/data with the token", async () => {
  const peer = fakeFetch((attempt) => Promise.resolve(stored(peer.calls[attempt - 1]!.body, 1)));
  const { spool, metrics, forwarder, running, lines } = setup(peer.fetch);
  try {
    assert.equal(forwarder.draining, true, "presumed draining until a request fails");
    commitReadings(spool, [testReading(7, 1), testReading(7, 2)]); // no notify(): the spool tells
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied");
    assert.equal(peer.calls.length, 1);
    const call = peer.calls[0]!;
    assert.equal(call.url, "http://plant-server.invalid:8080/base/api/data");
    assert.equal(call.init.method, "POST");
    const headers = new Headers(call.init.headers);
    assert.equal(headers.get("authorization"), "Bearer secret-token");
    assert.equal(headers.get("content-type"), "application/json");
    assert.deepEqual(call.body.map((r) => (r as { seq: number }).seq), [1, 2]);
    assert.equal(metrics.values.forwarded, 2);
    assert.equal(metrics.values.forward_duplicates, 1);
    assert.equal(forwarder.draining, true, "draining right after a 2xx");
    assert.ok(lines.every((line) => !line.includes("secret-token")), "token never logged");
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
});

Deno.test("Forwarder keeps rows through a lost connection and posts them again", async () => {
  const peer = fakeFetch((attempt) =>
    attempt === 1
      ? Promise.reject(new TypeError("connection reset"))
      : Promise.resolve(stored(peer.calls[attempt - 1]!.body))
  );
  const { spool, metrics, forwarder, running, lines } = setup(peer.fetch);
  try {
    commitReadings(spool, [testReading(1, 1)]);
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied");
    assert.equal(peer.calls.length, 2);
    assert.deepEqual(peer.calls[1]!.body, peer.calls[0]!.body);
    assert.equal(metrics.values.forward_retries, 1);
    assert.equal(metrics.values.forwarded, 1);
    assert.ok(lines.some((line) => line.includes("connection reset")), lines.join("\n"));
    assert.ok(lines.some((line) => line.includes("server reachable again")), lines.join("\n"));
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
});

Deno.test("Forwarder counts a 2xx as stored even when its body breaks off", async () => {
  const broken = () =>
    new Response(
      new ReadableStream({
        pull(controller) {
          controller.error(new TypeError("body cut off"));
        },
      }),
      { status: 200 },
    );
  const peer = fakeFetch(() => Promise.resolve(broken()));
  const { spool, metrics, forwarder, running } = setup(peer.fetch);
  try {
    commitReadings(spool, [testReading(2, 1), testReading(2, 2), testReading(2, 3)]);
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied");
    assert.equal(peer.calls.length, 1);
    assert.equal(metrics.values.forwarded, 3);
    assert.equal(metrics.values.forward_retries, 0);
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
});

Deno.test("Forwarder counts as not draining while the server fails, and as draining after a 2xx", async () => {
  let failing = true;
  const peer = fakeFetch((attempt) =>
    Promise.resolve(
      failing
        ? Response.json({ error: "down" }, { status: 500 })
        : stored(peer.calls[attempt - 1]!.body),
    )
  );
  const { spool, forwarder, running } = setup(peer.fetch);
  try {
    commitReadings(spool, [testReading(3, 1)]);
    commitReadings(spool, [testReading(3, 2)]);
    await waitUntil(() => peer.calls.length >= 4, 5_000, "four failed attempts");
    assert.equal(forwarder.draining, false, "not draining while failing");
    failing = false;
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied");
    assert.equal(forwarder.draining, true);
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
});

Deno.test("Forwarder: a server asking to come back later (503 + Retry-After) is busy, not stalled: still draining", async () => {
  const peer = fakeFetch((attempt) =>
    Promise.resolve(
      attempt === 1
        ? Response.json({ error: "Cannot store readings now: the write queue is full" }, {
          status: 503,
          headers: { "retry-after": "1" },
        })
        : stored(peer.calls[attempt - 1]!.body),
    )
  );
  const { spool, forwarder, running, metrics } = setup(peer.fetch);
  try {
    commitReadings(spool, [testReading(5, 1)]);
    await waitUntil(() => metrics.values.forward_retries === 1, 5_000, "the 503");
    assert.equal(forwarder.draining, true, "held senders stay held, the spool is not opened up");
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied after Retry-After");
    assert.ok(peer.calls.length === 2, "one retry, after the server's Retry-After");
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
});

Deno.test("Forwarder.stop() aborts a request that never ends once the grace runs out", async () => {
  let signal: AbortSignal | undefined;
  const peer = fakeFetch((_attempt, init) => {
    signal = init.signal ?? undefined;
    return new Promise((_resolve, reject) =>
      init.signal?.addEventListener("abort", () => reject(init.signal!.reason))
    );
  });
  const { spool, metrics, forwarder, running } = setup(peer.fetch);
  try {
    commitReadings(spool, [testReading(4, 1)]);
    await waitUntil(() => peer.calls.length === 1, 5_000, "the request sent");
    forwarder.stop(50);
    await running;
    assert.equal(signal?.aborted, true);
    assert.equal(spool.depth, 1, "rows of an unanswered request stay");
    assert.equal(metrics.values.forwarded, 0);
  } finally {
    spool.close();
  }
});

/**
 * Commits three full rows (seqs 1, 10,001 and 20,001 first) and returns the
 * first seq of each request, in the order the lanes posted them (unlike
 * arrivals at a real server).
 */
async function postingOrder(options: { fifoReadings?: () => number } = {}): Promise<number[]> {
  const peer = fakeFetch((attempt) => Promise.resolve(stored(peer.calls[attempt - 1]!.body)));
  const { spool, forwarder, running } = setup(peer.fetch, options);
  try {
    for (let row = 0; row < 3; row++) {
      commitReadings(
        spool,
        Array.from({ length: 10_000 }, (_, i) => testReading(1, row * 10_000 + i + 1)),
      );
    }
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    return peer.calls.map((call) => (call.body[0] as { seq: number }).seq);
  } finally {
    forwarder.stop(100);
    await running;
    spool.close();
  }
}

Deno.test("Forwarder alternates oldest and newest rows while a backlog is larger than one request", async () => {
  assert.deepEqual(await postingOrder(), [1, 20_001, 10_001]);
});

Deno.test("Forwarder takes the oldest rows first while the spool is within its admission budget", async () => {
  assert.deepEqual(
    await postingOrder({ fifoReadings: () => 30_000 }),
    [1, 10_001, 20_001],
    "no backlog: first in, first out",
  );
});
