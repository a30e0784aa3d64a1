/**
 * sensor.ts and gateway.ts as real processes over real mutual TLS, checked
 * at the gateway's spool: what the sensors measured (regenerated from the
 * same seed) is exactly what was made durable, through a gateway crash too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { finishedSummary, parseSummary, startGateway, startSensors } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { assertNothingLost, delay, freePort, tallyReadings } from "./_faults.ts";
import { spooledReadings } from "./_spool.ts";

Deno.test("sensor.ts readings from several sensors reach the spool once, with exact values", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-link-spool-" });
  try {
    await using gateway = await startGateway(pki, dir);
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: 3,
      interval: 0.005,
      count: 300,
      seed: 11,
    });
    const status = await sensors.status;
    const until = Date.now();
    assert.equal(status.code, 0, sensors.output());
    const summary = parseSummary(await sensors.waitForLine(/summary/));
    assert.equal(summary.acknowledged, 900);
    assert.equal(summary.sent, 900);
    assert.equal(summary.dropped, 0);
    assert.equal(summary.pending, 0);
    assert.equal((await gateway.stop("SIGTERM")).code, 0);
    const readings = spooledReadings(join(dir, "spool.db"));
    assert.equal(readings.length, 900, "no duplicates without a failure");
    const run = { sensors: [1, 2, 3], count: 300, seed: 11, since, until };
    assertNothingLost(tallyReadings(readings, run), "in the spool", { resends: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sensor.ts resends after the gateway is killed with SIGKILL and restarted; nothing is lost", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-link-kill-" });
  try {
    let gateway = await startGateway(pki, dir);
    const port = gateway.port;
    const since = Date.now();
    await using sensors = await startSensors(pki, port, {
      sensors: 2,
      interval: 0.002,
      count: 1500,
      seed: 12,
      ackTimeout: 1,
    });
    try {
      await delay(1_000);
      await gateway.stop("SIGKILL");
      await delay(500);
      gateway = await startGateway(pki, dir, { port });
      const status = await sensors.status;
      const until = Date.now();
      assert.equal(status.code, 0, sensors.output());
      const summary = parseSummary(await sensors.waitForLine(/summary/));
      assert.equal(summary.acknowledged, 3000, sensors.output());
      assert.equal(summary.dropped, 0);
      assert.ok(summary.connects! >= 4, "both sensors reconnected");
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
      const run = { sensors: [1, 2], count: 1500, seed: 12, since, until };
      const tally = tallyReadings(spooledReadings(join(dir, "spool.db")), run);
      assertNothingLost(tally, "in the spool after SIGKILL", { resends: true });
    } finally {
      await gateway.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sensor.ts keeps retrying while no gateway listens and delivers once one does", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-link-late-" });
  const port = freePort();
  try {
    await using sensors = await startSensors(pki, port, { interval: 0.01, count: 50, seed: 13 });
    await delay(1_500);
    await using gateway = await startGateway(pki, dir, { port });
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 50);
    assert.ok(summary.connect_failures! >= 1);
    assert.equal((await gateway.stop("SIGTERM")).code, 0);
    assert.equal(spooledReadings(join(dir, "spool.db")).length, 50);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
