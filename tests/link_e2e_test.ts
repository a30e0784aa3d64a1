/**
 * The whole write path as real processes: sensor.ts → (mutual TLS) →
 * gateway.ts → (HTTP) → server.ts, read back through the server's API.
 * Failures are real too: SIGKILL of the gateway, the server stopped for a
 * while.
 */
import assert from "node:assert/strict";
import type { Reading } from "../protocol/mod.ts";
import { createSimulator } from "../sensor/simulator.ts";
import {
  fetchAllReadings,
  parseSummary,
  startGateway,
  startSensors,
  startServer,
  waitUntil,
} from "./_link.ts";
import { testPki } from "./_pki.ts";

/** Asserts the server holds each (sensor, seq) of the run exactly once, with the simulator's values. */
function assertExactlyOnce(
  readings: readonly Reading[],
  options: { sensors: readonly number[]; count: number; seed: number; since: number },
): void {
  const seen = new Map<string, Reading>();
  for (const r of readings) {
    const key = `${r.sensorId}:${r.seq}`;
    assert.ok(!seen.has(key), `sensor ${r.sensorId} seq ${r.seq} is stored once`);
    seen.set(key, r);
  }
  assert.equal(readings.length, options.sensors.length * options.count);
  for (const sensorId of options.sensors) {
    const simulator = createSimulator({ sensorId, seed: options.seed });
    for (let seq = 1; seq <= options.count; seq++) {
      const r = seen.get(`${sensorId}:${seq}`);
      assert.ok(r, `sensor ${sensorId} seq ${seq} is stored`);
      const { temperature, pressure, humidity } = r;
      assert.deepEqual({ temperature, pressure, humidity }, simulator.next());
      assert.ok(r.timestamp >= options.since - 1 && r.timestamp <= Date.now());
    }
  }
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = new RegExp(`^vigia_gateway_${name}(?:_total)? (\\d+)$`, "m").exec(text);
  if (!match) throw new Error(`no metric ${name}`);
  return Number(match[1]);
}

async function metricsPort(gateway: { waitForLine(re: RegExp): Promise<string> }) {
  const line = await gateway.waitForLine(/metrics on http:\/\/127\.0\.0\.1:(\d+)/);
  return Number(/:(\d+)\/metrics/.exec(line)![1]);
}

Deno.test("readings from several sensors reach the server's API exactly once with exact values", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-e2e-" });
  try {
    await using server = await startServer(pki, dir);
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${server.port}`,
    });
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, [
      "--sensors",
      "3",
      "--interval",
      "0.005",
      "--count",
      "400",
      "--seed",
      "21",
    ]);
    assert.equal((await sensors.status).code, 0, sensors.output());
    assert.equal(parseSummary(await sensors.waitForLine(/summary/)).acknowledged, 1200);
    let readings: Reading[] = [];
    await waitUntil(
      async () => {
        readings = await fetchAllReadings(server.port);
        return readings.length >= 1200;
      },
      10_000,
      "1200 readings on the server",
    );
    assertExactlyOnce(readings, { sensors: [1, 2, 3], count: 400, seed: 21, since });
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
      await using sensors = await startSensors(pki, port, [
        "--sensors",
        "2",
        "--interval",
        "0.002",
        "--count",
        "2000",
        "--seed",
        "22",
        "--ack-timeout",
        "1",
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await gateway.stop("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 500));
      gateway = await startGateway(pki, dir, { server: serverUrl, port });
      assert.equal((await sensors.status).code, 0, sensors.output());
      const summary = parseSummary(await sensors.waitForLine(/summary/));
      assert.equal(summary.acknowledged, 4000);
      let readings: Reading[] = [];
      await waitUntil(
        async () => {
          readings = await fetchAllReadings(server.port);
          return readings.length >= 4000;
        },
        15_000,
        "4000 readings on the server",
      );
      assertExactlyOnce(readings, { sensors: [1, 2], count: 2000, seed: 22, since });
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
      await using sensors = await startSensors(pki, gateway.port, [
        "--sensors",
        "3",
        "--interval",
        "0.01",
        "--count",
        "300",
        "--seed",
        "23",
      ]);
      await waitUntil(async () => (await metric(metrics, "forwarded")) > 0, 5_000, "forwarding");
      assert.equal((await server.stop("SIGTERM")).code, 0, server.output());

      // Sensors go on; the gateway ACKs into its spool and retries the server.
      await waitUntil(async () => (await metric(metrics, "spool_depth")) >= 100, 10_000, "backlog");
      await waitUntil(
        async () => (await metric(metrics, "forward_retries")) >= 2,
        10_000,
        "retries",
      );
      assert.equal((await sensors.status).code, 0, sensors.output());
      assert.equal(parseSummary(await sensors.waitForLine(/summary/)).acknowledged, 900);
      const backlog = await metric(metrics, "spool_depth");
      assert.ok(backlog > 0);

      server = await startServer(pki, dir, serverPort);
      await waitUntil(async () => (await metric(metrics, "spool_depth")) === 0, 15_000, "drain");
      assertExactlyOnce(await fetchAllReadings(serverPort), {
        sensors: [1, 2, 3],
        count: 300,
        seed: 23,
        since,
      });
      assert.match(gateway.output(), /server reachable again/);
    } finally {
      await server.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
