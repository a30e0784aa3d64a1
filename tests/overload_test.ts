/**
 * Sensors flat out behind a real gateway, in front of a server that stores
 * far less than they send (_slow_server.ts: the project's handler and store
 * at a fixed rate). What must hold, in three acts:
 *
 * 1. The server is up but slow: the gateway admits only what it forwards
 *    within its latency budget (`--backlog-ms`), so the spool stays a
 *    fraction of a second deep; the sensors are held back (their windows
 *    fill, their ACKs wait), and nobody is refused with ERROR 4.
 * 2. The server stops answering: the spool fills towards `--spool-max`, as
 *    an outage needs, and never past it.
 * 3. The server comes back: the backlog drains, the spool is back under the
 *    budget and readings are fresh again; in the end every reading is
 *    stored exactly once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fetchMetrics, histogramBuckets, windowQuantile } from "../bench/pipeline_tally.ts";
import { finishedSummary, startGateway, startSensors, waitUntil } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { assertNothingLost, delay, gatewayMetric, metricsPort, settle } from "./_faults.ts";
import { startSlowServer } from "./_slow_server.ts";

/** The slow server's rate, readings/s. */
const RATE = 4_000;
/** The gateway's budget. */
const BACKLOG_MS = 250;
const SPOOL_MAX = 5_000;

/** Samples `read` every 100 ms for `ms`. */
async function sampleFor(ms: number, read: () => Promise<number>): Promise<number[]> {
  const samples: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    samples.push(await read());
    await delay(100);
  }
  return samples;
}

Deno.test("overload: a slow server holds the sensors back, not the spool; an outage fills the spool; its return drains it; nothing lost", async () => {
  const pki = await testPki(5);
  const dir = await Deno.makeTempDir({ prefix: "vigia-overload-" });
  const count = 12_000;
  const seed = 14;
  try {
    await using server = startSlowServer({
      ratePerSecond: RATE,
      token: (await Deno.readTextFile(pki.token)).trim(),
    });
    await using gateway = await startGateway(pki, dir, {
      server: server.url,
      args: [
        ...["--spool-max", String(SPOOL_MAX), "--backlog-ms", String(BACKLOG_MS)],
        ...["--metrics-port", "0"],
      ],
    });
    const metrics = await metricsPort(gateway);
    const depth = () => gatewayMetric(metrics, "spool_depth");
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, {
      // Each of 5 sensors sends up to a window per commit (50 ms): 10,000/s, 2.5 times the server.
      sensors: 5,
      interval: 0,
      count,
      seed,
      window: 100,
    });

    // 1. Slow server: a spool of a fraction of a second, sensors held, nobody refused. What
    // came in before the server's rate was measured drains first, at half its rate.
    const budget = RATE * BACKLOG_MS / 1000;
    const limit = () => gatewayMetric(metrics, "admission_limit");
    await waitUntil(async () => (await limit()) <= 1.5 * budget, 20_000, "the limit at the budget");
    const slow = await sampleFor(2_000, depth);
    // Twice the budget: the drain rate is measured, and a commit lands between two requests.
    const bound = 2 * budget;
    assert.ok(Math.max(...slow) <= bound, `spool depth <= ${bound}: ${slow.join(",")}`);
    assert.ok((await gatewayMetric(metrics, "room_holds")) > 0, "sensors were held back");
    assert.equal(await gatewayMetric(metrics, "overload_refusals"), 0, "no ERROR 4");

    // 2. The server stops answering: the spool fills towards --spool-max, never past it.
    await server.down();
    const outage: number[] = [];
    await waitUntil(
      async () => {
        outage.push(await depth());
        return outage.at(-1)! >= 0.9 * SPOOL_MAX;
      },
      20_000,
      "the spool filling during the outage",
    );
    outage.push(...await sampleFor(1_000, depth));
    assert.ok(Math.max(...outage) <= SPOOL_MAX, `depth <= ${SPOOL_MAX}: ${outage.join(",")}`);

    // 3. It comes back: the backlog drains and the spool is back under the budget; once the
    // sensors have sent what they kept through the outage, readings are fresh again.
    server.up();
    await waitUntil(async () => (await depth()) <= bound, 30_000, "the backlog drained");
    const freshness = async () =>
      histogramBuckets(
        await fetchMetrics(`${server.url}/metrics`),
        "vigia_reading_freshness_seconds",
      );
    let p99: number | undefined;
    let after: number[] = [];
    const deadline = Date.now() + 30_000;
    while (p99 === undefined || p99 >= 1) {
      assert.ok(Date.now() < deadline, `p99 sensor-to-stored ${p99} s, not under 1 s in 30 s`);
      const before = await freshness();
      after = await sampleFor(1_000, depth);
      p99 = windowQuantile(before, await freshness(), 0.99);
    }
    assert.ok(Math.max(...after) <= bound, `spool depth <= ${bound} again: ${after.join(",")}`);

    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 5 * count);
    assert.equal(summary.dropped, 0);
    const run = { sensors: [1, 2, 3, 4, 5], count, seed, since, until: Date.now() };
    const tally = await settle(server.port, run, 30_000);
    assertNothingLost(tally, "after overload and outage");
    await Deno.stderr.write(
      new TextEncoder().encode(
        `overload: spool depth ${Math.max(...slow)} max under a ${RATE}/s server (budget ` +
          `${budget}), ${Math.max(...outage)} in the outage (--spool-max ${SPOOL_MAX}), ` +
          `${Math.max(...after)} after; p99 ${Math.round(p99 * 1000)} ms after; ` +
          `${await gatewayMetric(metrics, "room_holds")} holds, ` +
          `${await gatewayMetric(metrics, "overload_refusals")} ERROR 4; stored ${tally.stored}\n`,
      ),
    );
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
