/**
 * The server's write queue under more writes than its writer stores: the
 * budget's bookkeeping (server/write_queue.ts) with a clock of its own, then
 * server.ts as a real process with a tiny `--write-queue-ms`, hammered by
 * concurrent clients: what the queue cannot take in time is answered 503
 * with `Retry-After`, stores nothing, and is stored once when retried.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { SAMPLE_MS, WriteQueue } from "../server/write_queue.ts";
import { metricValue, postReadings } from "./_api.ts";
import { startProgram } from "./_process.ts";

Deno.test("write queue: an idle or unmeasured writer takes anything", () => {
  const queue = new WriteQueue(100);
  assert.ok(queue.admits());
  queue.enter(1_000_000, 0);
  // Queued, but the rate is not known yet: no estimate, no refusal.
  assert.equal(queue.waitMs(), 0);
  assert.ok(queue.admits());
  assert.equal(queue.ratePerSecond, undefined);
});

Deno.test("write queue: the wait is what is queued ahead over the measured rate", () => {
  const queue = new WriteQueue(100);
  queue.enter(5_000, 0);
  queue.enter(5_000, 0);
  queue.leave(5_000, SAMPLE_MS, true); // 5,000 in 50 ms: 100,000/s
  assert.equal(queue.ratePerSecond, 100_000);
  assert.equal(queue.queued, 5_000);
  assert.equal(queue.waitMs(), 50);
  assert.ok(queue.admits());
  queue.enter(10_000, SAMPLE_MS);
  assert.equal(queue.waitMs(), 150);
  assert.ok(!queue.admits(), "150 ms of queue is over a 100 ms budget");
  queue.leave(5_000, 2 * SAMPLE_MS, true); // 5,000 more in 50 ms: still 100,000/s
  assert.equal(queue.waitMs(), 100);
  assert.ok(queue.admits(), "at the budget exactly: taken");
});

Deno.test("write queue: the rate follows the writer, smoothed; failed writes and idle time do not count", () => {
  const queue = new WriteQueue(100);
  queue.enter(10_000, 0);
  queue.leave(5_000, 50, true); // 100/ms
  queue.leave(1_000, 60, true); // a part-sample: nothing yet
  assert.equal(queue.ratePerSecond, 100_000);
  queue.leave(1_000, 110, true); // 2,000 in 60 ms
  assert.equal(Math.round(queue.ratePerSecond!), Math.round((100 + 2000 / 60) / 2 * 1000));
  const before = queue.ratePerSecond;
  queue.leave(3_000, 1_000, false); // refused by the database: says nothing of speed
  assert.equal(queue.ratePerSecond, before);
  assert.equal(queue.queued, 0);
  // Ten idle seconds, then a burst: the sample starts with the burst, not before it.
  queue.enter(4_000, 11_000);
  queue.leave(4_000, 11_050, true); // 80/ms
  assert.equal(Math.round(queue.ratePerSecond!), Math.round((before! / 1000 + 80) / 2 * 1000));
});

const TOKEN = "overload-test-token";

function batch(client: number, round: number, size: number) {
  return Array.from({ length: size }, (_, i) => ({
    id: 1 + client,
    seq: 1 + round * size + i,
    timestamp: Date.parse("2026-12-06T10:00:00.000Z") + round * size + i,
    temperature: 21.5,
    pressure: 1013.25,
    humidity: 45.1,
  }));
}

Deno.test("server.ts --write-queue-ms: writes past the budget get 503 + Retry-After, store nothing, and are stored once when retried", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-server-overload-" });
  const tokenFile = join(dir, "ingest.token");
  await Deno.writeTextFile(tokenFile, TOKEN + "\n");
  const clients = 12;
  const rounds = 6;
  const size = 5_000;
  try {
    await using server = await startProgram("server.ts", [
      "--port",
      "0",
      "--db",
      join(dir, "readings.db"),
      "--token-file",
      tokenFile,
      "--write-queue-ms",
      "1",
    ], { allow: [`--allow-read=${dir}`, `--allow-write=${dir}`] });
    const base = `http://127.0.0.1:${server.port}`;
    const busy: { retryAfter: string | null; body: unknown }[] = [];
    let stored = 0;
    await Promise.all(Array.from({ length: clients }, async (_, client) => {
      for (let round = 0; round < rounds; round++) {
        const readings = batch(client, round, size);
        for (;;) {
          const response = await postReadings(base, TOKEN, readings);
          const body = await response.json();
          if (response.status === 200) {
            stored += body.stored;
            break;
          }
          assert.equal(response.status, 503, JSON.stringify(body));
          busy.push({ retryAfter: response.headers.get("retry-after"), body });
          // Sooner than Retry-After asks: the test keeps the queue full on purpose.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }));
    assert.ok(busy.length > 0, "some writes found the queue over 1 ms");
    for (const answer of busy) {
      assert.match(answer.retryAfter ?? "", /^[1-9]\d*$/);
      assert.deepEqual(answer.body, {
        error: "Cannot store readings now: the write queue is full",
      });
    }
    assert.equal(stored, clients * rounds * size, "every reading stored once, none by a 503");
    const sensors = await (await fetch(`${base}/api/sensors`)).json() as { readings: number }[];
    assert.equal(sensors.reduce((n, s) => n + s.readings, 0), clients * rounds * size);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(
      metricValue(
        metrics,
        'vigia_http_requests_total{route="/api/data",method="POST",status="503"}',
      ),
      busy.length,
    );
    assert.equal(metricValue(metrics, "vigia_readings_rejected_total"), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
