/**
 * The whole write path as real processes: sensor.ts → (mutual TLS) →
 * gateway.ts → (HTTP) → server.ts, read back through the server's API.
 * Failures are real too: SIGKILL of the gateway, the server stopped for a
 * while.
 */
import assert from "node:assert/strict";
import {
  fetchAllReadings,
  finishedSummary,
  startGateway,
  startSensors,
  startServer,
  waitUntil,
} from "./_link.ts";
import { testPki } from "./_pki.ts";
import {
  assertNothingLost,
  delay,
  gatewayMetric,
  metricsPort,
  settle,
  spoolDrained,
  tallyReadings,
} from "./_faults.ts";

Deno.test("readings from several sensors reach the server's API exactly once with exact values", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-e2e-" });
  try {
    await using server = await startServer(pki, dir);
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${server.port}`,
    });
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: 3,
      interval: 0.005,
      count: 400,
      seed: 21,
    });
    assert.equal((await finishedSummary(sensors)).acknowledged, 1200);
    const run = { sensors: [1, 2, 3], count: 400, seed: 21, since, until: Date.now() };
    assertNothingLost(await settle(server.port, run, 10_000), "1200 readings on the server");
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGKILL of the gateway mid-stream loses nothing and duplicates nothing in the server", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-e2e-kill-" });
  try {
    await using server = await startServer(pki, dir);
    const serverUrl = `http://127.0.0.1:${server.port}`;
    let gateway = await startGateway(pki, dir, { server: serverUrl });
    const port = gateway.port;
    try {
      const since = Date.now();
      await using sensors = await startSensors(pki, port, {
        sensors: 2,
        interval: 0.002,
        count: 2000,
        seed: 22,
        ackTimeout: 1,
      });
      await delay(1_500);
      await gateway.stop("SIGKILL");
      await delay(500);
      gateway = await startGateway(pki, dir, { server: serverUrl, port });
      const summary = await finishedSummary(sensors);
      assert.equal(summary.acknowledged, 4000);
      const run = { sensors: [1, 2], count: 2000, seed: 22, since, until: Date.now() };
      assertNothingLost(await settle(server.port, run, 15_000), "4000 readings on the server");
    } finally {
      await gateway.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("with the server stopped the spool grows, loses nothing, and drains when it returns", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-e2e-outage-" });
  try {
    let server = await startServer(pki, dir);
    const serverPort = server.port;
    try {
      await using gateway = await startGateway(pki, dir, {
        server: `http://127.0.0.1:${serverPort}`,
        args: ["--metrics-port", "0"],
      });
      const metrics = await metricsPort(gateway);
      const since = Date.now();
      await using sensors = await startSensors(pki, gateway.port, {
        sensors: 3,
        interval: 0.01,
        count: 300,
        seed: 23,
      });
      await waitUntil(
        async () => (await gatewayMetric(metrics, "forwarded")) > 0,
        5_000,
        "forwarding",
      );
      assert.equal((await server.stop("SIGTERM")).code, 0, server.output());

      // Sensors go on; the gateway ACKs into its spool and retries the server.
      await waitUntil(
        async () => (await gatewayMetric(metrics, "spool_depth")) >= 100,
        10_000,
        "backlog",
      );
      await waitUntil(
        async () => (await gatewayMetric(metrics, "forward_retries")) >= 2,
        10_000,
        "retries",
      );
      assert.equal((await finishedSummary(sensors)).acknowledged, 900);
      const backlog = await gatewayMetric(metrics, "spool_depth");
      assert.ok(backlog > 0);

      server = await startServer(pki, dir, { port: serverPort });
      await spoolDrained(metrics, 15_000);
      const run = { sensors: [1, 2, 3], count: 300, seed: 23, since, until: Date.now() };
      assertNothingLost(tallyReadings(await fetchAllReadings(serverPort), run), "after the drain");
      assert.match(gateway.output(), /server reachable again/);
    } finally {
      await server.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
