/**
 * Modbus readings keep the pipeline's guarantees: with the server down the
 * gateway spools them; a SIGKILL of the gateway loses nothing it committed
 * and gives no seq twice; a SIGKILL of the server while the gateway
 * forwards loses nothing either. At the end each sensor's seqs on the
 * server are exactly 1..N, each stored once.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, gatewayMetric, metricsPort } from "./_faults.ts";
import { fetchAllReadings, startGateway, startServer, waitUntil } from "./_link.ts";
import { plcFile, startPlc, writeModbusFile } from "./_modbus.ts";
import { testPki } from "./_pki.ts";
import { spooledReadings } from "./_spool.ts";
import { readingId } from "../protocol/mod.ts";

const WAIT_MS = 30_000;
const SENSORS = [1001, 1002, 1003];

Deno.test("Modbus readings survive SIGKILL of the gateway and of the server: seqs 1..N, each stored once", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-modbus-kill-" });
  const serverPort = freePort();
  await using plc = await startPlc();
  const file = await writeModbusFile(dir, plcFile({}, { port: plc.port, interval: 0.02 }));
  const gatewayArgs = {
    server: `http://127.0.0.1:${serverPort}`,
    args: ["--modbus", file, "--metrics-port", "0"],
  };

  // 1. No server: readings pile up in the spool; then kill -9 the gateway.
  let gateway = await startGateway(pki, dir, gatewayArgs);
  let metrics = await metricsPort(gateway);
  await waitUntil(
    async () => await gatewayMetric(metrics, "spool_depth") >= 60,
    WAIT_MS,
    "60 readings spooled",
  );
  await gateway.stop("SIGKILL");
  const spooled = spooledReadings(join(dir, "spool.db"), { readOnly: false });
  assert.ok(spooled.length >= 60);

  // 2. Gateway back (its seqs must go on), server up; kill -9 the server mid-forwarding.
  gateway = await startGateway(pki, dir, gatewayArgs);
  try {
    metrics = await metricsPort(gateway);
    let server = await startServer(pki, dir, { port: serverPort });
    await waitUntil(
      async () => (await fetchAllReadings(server.port)).length > spooled.length / 2,
      WAIT_MS,
      "forwarding under way",
    );
    await server.stop("SIGKILL");
    server = await startServer(pki, dir, { port: serverPort });
    try {
      await waitUntil(
        async () => (await fetchAllReadings(server.port)).length > spooled.length + 60,
        WAIT_MS,
        "readings after the restarts",
      );
      await plc.stop();
      await waitUntil(
        async () => await gatewayMetric(metrics, "spool_depth") === 0,
        WAIT_MS,
        "the spool drained",
      );
      const stored = await fetchAllReadings(server.port);
      const ids = new Set(stored.map(readingId));
      const missing = spooled.filter((reading) => !ids.has(readingId(reading)));
      assert.deepEqual(missing, [], "spooled before the gateway's SIGKILL, not on the server");
      for (const sensor of SENSORS) {
        const seqs = stored.filter((r) => r.sensorId === sensor).map((r) => r.seq)
          .sort((x, y) => x - y);
        assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `sensor ${sensor}: seqs 1..N once each`);
      }
      assert.equal(stored.length, new Set(stored.map((r) => `${r.sensorId}:${r.seq}`)).size);
    } finally {
      await server.stop();
    }
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
  }
});
