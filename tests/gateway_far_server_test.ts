/**
 * A server far from the gateway: a real server behind a proxy that adds
 * 100 ms each way (bench/delay_proxy.ts), a real gateway with its default
 * `--backlog-ms` (100 ms, half the round trip), and sensors at a fixed rate
 * the link carries easily. The admission limit must not throttle what the
 * round trip needs: a limit of less than a round trip of forwarding makes
 * each round trip carry less than the last, down to the limit's floor, and
 * every reading waits longer than the one before.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startDelayProxy } from "../bench/delay_proxy.ts";
import { fetchMetrics, histogramBuckets, windowQuantile } from "../bench/pipeline_tally.ts";
import { finishedSummary, startGateway, startSensors, startServer } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { assertNothingLost, delay, gatewayMetric, metricsPort, settle } from "./_faults.ts";

const ONE_WAY_MS = 100;

Deno.test("far server: a 200 ms round trip carries 1,000 readings/s, each stored within a second once started", async () => {
  const pki = await testPki(5);
  const dir = await Deno.makeTempDir({ prefix: "vigia-far-server-" });
  const sensorIds = [1, 2, 3, 4, 5];
  const count = 2_000;
  const seed = 27;
  try {
    await using server = await startServer(pki, dir);
    await using proxy = startDelayProxy({ hostname: "127.0.0.1", port: server.port }, ONE_WAY_MS);
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${proxy.port}`,
      args: ["--metrics-port", "0"],
    });
    const metrics = await metricsPort(gateway);
    const freshness = async () =>
      histogramBuckets(
        await fetchMetrics(`http://127.0.0.1:${server.port}/metrics`),
        "vigia_reading_freshness_seconds",
      );
    const since = Date.now();
    // 5 sensors at 200 Hz: 1,000 readings/s for 10 s.
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: sensorIds.length,
      interval: 0.005,
      count,
      seed,
    });
    // The start measures the server's rate and round trip from a small limit up (a second or
    // so of readings waiting longer); what holds after it is what is asserted.
    await delay(4_000);
    const before = await freshness();
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, sensorIds.length * count);
    assert.equal(summary.dropped, 0);
    const tally = await settle(server.port, {
      sensors: sensorIds,
      count,
      seed,
      since,
      until: Date.now(),
    }, 30_000);
    assertNothingLost(tally, "through the far server");

    const roundTrip = await gatewayMetric(metrics, "forward_round_trip_seconds");
    assert.ok(
      roundTrip >= 2 * ONE_WAY_MS / 1000,
      `the proxy's delay is in the round trip: ${roundTrip} s`,
    );
    const p99 = windowQuantile(before, await freshness(), 0.99)!;
    assert.ok(p99 < 1, `p99 sensor-to-stored ${p99} s, not under 1 s`);
    await Deno.stderr.write(
      new TextEncoder().encode(
        `far server: round trip ${Math.round(roundTrip * 1000)} ms, p99 sensor-to-stored ` +
          `${Math.round(p99 * 1000)} ms, ${await gatewayMetric(metrics, "room_holds")} holds, ` +
          `stored ${tally.stored}\n`,
      ),
    );
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
