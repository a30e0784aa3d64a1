/**
 * The Modbus source in a real gateway process: the simulated PLC (plc.ts)
 * polled into the spool, forwarded to a real server (a quantity a sensor
 * does not measure as null), judged by the query client; the metrics.
 *
 * @module
 */

import assert from "node:assert/strict";
import { metricsPort } from "./_faults.ts";
import { fetchAllReadings, startGateway, startServer, waitUntil } from "./_link.ts";
import { modbusMetric, plcFile, startPlc, writeModbusFile } from "./_modbus.ts";
import { testPki } from "./_pki.ts";
import { startProgram } from "./_process.ts";
import type { Reading } from "../protocol/mod.ts";

Deno.test("gateway --modbus stores the PLC's readings on the server in seq order; the query client alerts on them", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-modbus-" });
  await using plc = await startPlc([
    "--devices",
    "2",
    "--sensors",
    "2",
    "--type",
    "float32",
    "--order",
    "CDAB",
    "--excursion-rate",
    "0.2",
  ]);
  await using server = await startServer(pki, dir);
  await using query = await startProgram("query.ts", [
    ...["--server", `http://127.0.0.1:${server.port}`, "--interval", "0.2"],
  ], { waitFor: /following / });
  const layout = plcFile({ sensors: 2, type: "float32", order: "CDAB" }, {
    port: plc.port,
    devices: 2,
    interval: 0.05,
  });
  // sensor 1003 measures no humidity: stored as null
  delete (layout.devices[1] as { sensors: { humidity?: unknown }[] }).sensors[0]!.humidity;
  const file = await writeModbusFile(dir, layout);
  await using gateway = await startGateway(pki, dir, {
    server: `http://127.0.0.1:${server.port}`,
    args: ["--modbus", file, "--metrics-port", "0"],
  });
  const metrics = await metricsPort(gateway);
  // The Modbus file is reported after the first line, which stays `listening on`.
  assert.match(gateway.output().split("\n")[0]!, /gateway listening on /, gateway.output());
  assert.match(gateway.output(), /modbus: polling 2 devices/);
  let readings: Reading[] = [];
  await waitUntil(
    async () => {
      readings = await fetchAllReadings(server.port);
      return [1001, 1002, 1003, 1004].every((id) =>
        readings.filter((r) => r.sensorId === id).length >= 5
      );
    },
    20_000,
    "five readings of each PLC sensor on the server",
  );
  for (const id of [1001, 1002, 1003, 1004]) {
    const seqs = readings.filter((r) => r.sensorId === id).map((r) => r.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `sensor ${id}`);
  }
  const absent = readings.filter((r) => r.sensorId === 1003);
  assert.ok(
    absent.every((r) => r.humidity === null && r.temperature !== null),
    JSON.stringify(absent),
  );
  assert.ok(readings.every((r) => r.sensorId === 1003 || r.humidity !== null));
  await query.waitForLine(/ALERT sensor 100[1-4]: /, 20_000);
  assert.ok(await modbusMetric(metrics, "polls", { device: "plc-0" }) >= 5);
  assert.equal(await modbusMetric(metrics, "device_up", { device: "plc-1" }), 1);
  assert.equal(await modbusMetric(metrics, "errors", { device: "plc-0", kind: "connect" }), 0);
  const status = await gateway.stop();
  assert.equal(status.code, 0, gateway.output());
});
