/**
 * `GET /api/live` over a real socket: the handler under `Deno.serve` on
 * port 0, a WebSocket client, and a raw TCP client that never reads.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createHandler } from "../server/handler.ts";
import { CLOSE_TOO_SLOW, LiveHub } from "../server/live.ts";
import { Metrics } from "../server/metrics.ts";
import { openStorage } from "../server/storage.ts";
import { apiReading, postReadings } from "./_api.ts";

const TOKEN = "live-token";
const T0 = Date.parse("2026-11-24T10:00:00.000Z");

async function startServer(liveOptions: ConstructorParameters<typeof LiveHub>[1] = {}) {
  const dir = await Deno.makeTempDir({ prefix: "vigia-live-" });
  const store = await openStorage(join(dir, "readings.db"));
  const metrics = new Metrics();
  const live = new LiveHub(store, { onDrop: () => metrics.liveDropped++, ...liveOptions });
  const writer = store.createWriter({ onCommit: () => live.notify() });
  const handler = createHandler(store, { token: TOKEN, writer, live, metrics });
  const controller = new AbortController();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: ({ port }) => resolve(port),
  }, handler);
  const port = await listening;
  const post = async (readings: unknown[]) => {
    const response = await postReadings(`http://127.0.0.1:${port}`, TOKEN, readings);
    assert.equal(response.status, 200);
    return await response.json();
  };
  return {
    port,
    live,
    metrics,
    post,
    async [Symbol.asyncDispose]() {
      live.close();
      controller.abort();
      await server.finished;
      await store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** `count` API readings of sensor `id` from `from`, a second apart, temperatures 20.0 … 20.9. */
function readings(from: number, count: number, id = 1) {
  return Array.from({ length: count }, (_, i) =>
    apiReading({
      id,
      seq: from + i,
      timestamp: T0 + (from + i) * 1000,
      temperature: 20 + (i % 10) / 10,
    }));
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test("GET /api/live pushes readings stored after the client connected, in storage order", async () => {
  await using server = await startServer();
  await server.post(readings(0, 5)); // before the client: not pushed
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/api/live`);
  const messages: { type: string; cursor: number; readings: { seq: number }[] }[] = [];
  let wanted = 30;
  const { promise: done, resolve } = Promise.withResolvers<void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    messages.push(message);
    wanted -= message.readings.length;
    if (wanted <= 0) resolve();
  };
  const closed = new Promise((resolve) => (socket.onclose = resolve));
  try {
    await withTimeout(new Promise((resolve) => (socket.onopen = resolve)), 5000, "open");
    // Three writes in quick succession: batched into few messages.
    await server.post(readings(100, 10));
    await server.post(readings(110, 10));
    // A source that does not measure pressure: pushed as null.
    await server.post(readings(120, 10).map((r) => ({ ...r, pressure: null })));
    await withTimeout(done, 5000, "30 readings");
    const seqs = messages.flatMap((m) => m.readings.map((r) => r.seq));
    assert.deepEqual(seqs, Array.from({ length: 30 }, (_, i) => 100 + i));
    const pushed = messages.flatMap((m) => m.readings) as unknown as Record<string, unknown>[];
    assert.deepEqual(
      pushed.map((r) => r.pressure === null),
      Array.from({ length: 30 }, (_, i) => i >= 20),
    );
    assert.equal(pushed[29]!.temperature, 20.9);
    assert.ok(messages.length <= 3, `${messages.length} messages`);
    assert.ok(messages.every((m) => m.type === "readings"));
    // The message cursor is the storage cursor of its last reading.
    const last = messages.at(-1)!;
    const page = await fetch(
      `http://127.0.0.1:${server.port}/api/readings?after=${last.cursor - 1}&limit=1`,
    );
    assert.equal((await page.json())[0].seq, 129);
    assert.equal(server.live.clients, 1);
  } finally {
    socket.close();
    await closed;
  }
});

Deno.test("GET /api/live sends at most one message per interval under load", async () => {
  await using server = await startServer({ intervalMs: 200 });
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/api/live`);
  const times: number[] = [];
  let received = 0;
  socket.onmessage = (event) => {
    times.push(performance.now());
    received += JSON.parse(event.data).readings.length;
  };
  const closed = new Promise((resolve) => (socket.onclose = resolve));
  try {
    await withTimeout(new Promise((resolve) => (socket.onopen = resolve)), 5000, "open");
    for (let i = 0; i < 40; i++) await server.post(readings(i * 10, 10));
    const deadline = Date.now() + 5000;
    while (received < 400 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, 400);
    for (let i = 1; i < times.length; i++) {
      // Timers may fire a little early or late; the hub never sends twice in one interval.
      assert.ok(times[i]! - times[i - 1]! >= 150, `gap ${times[i]! - times[i - 1]!} ms`);
    }
  } finally {
    socket.close();
    await closed;
  }
});

Deno.test("GET /api/live drops a client that stops reading instead of buffering without bound", async () => {
  await using server = await startServer({ intervalMs: 20, maxBufferedBytes: 64 * 1024 });
  // A raw client: completes the handshake, then never reads another byte.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await conn.write(new TextEncoder().encode(
      `GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const head = new Uint8Array(1024);
    const n = await conn.read(head);
    assert.match(new TextDecoder().decode(head.subarray(0, n ?? 0)), /^HTTP\/1\.1 101/);
    // Push until the kernel buffers are full and the server's queue passes the limit.
    const deadline = Date.now() + 20_000;
    let seq = 0;
    while (server.metrics.liveDropped === 0 && Date.now() < deadline) {
      await server.post(readings(seq, 5000, 2));
      seq += 5000;
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(server.metrics.liveDropped, 1);
    assert.equal(server.live.clients, 0);
  } finally {
    conn.close();
  }
  assert.equal(CLOSE_TOO_SLOW, 1008);
});

Deno.test("GET /api/live answers 400 to a plain HTTP request", async () => {
  await using server = await startServer();
  const response = await fetch(`http://127.0.0.1:${server.port}/api/live`);
  assert.equal(response.status, 400);
  assert.match((await response.json()).error, /WebSocket/);
});

Deno.test("GET /api/live answers 400 to a broken WebSocket handshake", async () => {
  await using server = await startServer();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(new TextEncoder().encode(
      "GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ));
    const head = new Uint8Array(4096);
    const n = await conn.read(head);
    const text = new TextDecoder().decode(head.subarray(0, n ?? 0));
    assert.match(text, /^HTTP\/1\.1 400/);
    assert.match(text, /invalid WebSocket handshake/);
  } finally {
    conn.close();
  }
});
