/**
 * sensor.ts and gateway.ts as real processes over real mutual TLS, checked
 * at the gateway's spool: what the sensors measured (regenerated from the
 * same seed) is exactly what was made durable, through a gateway crash too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { decodeReadingPayload, type Reading, READING_PAYLOAD_SIZE } from "../protocol/mod.ts";
import { createSimulator } from "../sensor/simulator.ts";
import { parseSummary, startGateway, startSensors } from "./_link.ts";
import { testPki } from "./_pki.ts";

function spooledReadings(path: string): Reading[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows = db.prepare("SELECT payload FROM batches ORDER BY id").all() as {
      payload: Uint8Array;
    }[];
    return rows.flatMap(({ payload }) =>
      Array.from(
        { length: payload.length / READING_PAYLOAD_SIZE },
        (_, i) => decodeReadingPayload(payload, i * READING_PAYLOAD_SIZE),
      )
    );
  } finally {
    db.close();
  }
}

/** Asserts `readings` hold each (sensor, seq) of the run with the simulator's exact values. */
function assertExactlyTheRun(
  readings: readonly Reading[],
  options: { sensors: number[]; count: number; seed: number; since: number; until: number },
): void {
  const bySensorSeq = new Map<string, Reading>();
  for (const r of readings) {
    const key = `${r.sensorId}:${r.seq}`;
    const seen = bySensorSeq.get(key);
    if (seen) assert.deepEqual(r, seen, "a resend repeats the reading exactly");
    bySensorSeq.set(key, r);
  }
  assert.equal(bySensorSeq.size, options.sensors.length * options.count);
  for (const sensorId of options.sensors) {
    const simulator = createSimulator({ sensorId, seed: options.seed });
    for (let seq = 1; seq <= options.count; seq++) {
      const r = bySensorSeq.get(`${sensorId}:${seq}`);
      assert.ok(r, `sensor ${sensorId} seq ${seq} is stored`);
      const expected = simulator.next();
      assert.deepEqual(
        { temperature: r.temperature, pressure: r.pressure, humidity: r.humidity },
        expected,
      );
      assert.ok(r.timestamp >= options.since - 1 && r.timestamp <= options.until);
    }
  }
}

Deno.test("sensor.ts readings from several sensors reach the spool once, with exact values", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-link-spool-" });
  try {
    await using gateway = await startGateway(pki, dir);
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, [
      "--sensors",
      "3",
      "--interval",
      "0.005",
      "--count",
      "300",
      "--seed",
      "11",
    ]);
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
    assertExactlyTheRun(readings, { sensors: [1, 2, 3], count: 300, seed: 11, since, until });
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
    await using sensors = await startSensors(pki, port, [
      "--sensors",
      "2",
      "--interval",
      "0.002",
      "--count",
      "1500",
      "--seed",
      "12",
      "--ack-timeout",
      "1",
    ]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await gateway.stop("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 500));
      gateway = await startGateway(pki, dir, { port });
      const status = await sensors.status;
      const until = Date.now();
      assert.equal(status.code, 0, sensors.output());
      const summary = parseSummary(await sensors.waitForLine(/summary/));
      assert.equal(summary.acknowledged, 3000, sensors.output());
      assert.equal(summary.dropped, 0);
      assert.ok(summary.connects! >= 4, "both sensors reconnected");
      assert.equal((await gateway.stop("SIGTERM")).code, 0);
      assertExactlyTheRun(spooledReadings(join(dir, "spool.db")), {
        sensors: [1, 2],
        count: 1500,
        seed: 12,
        since,
        until,
      });
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
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  try {
    await using sensors = await startSensors(pki, port, [
      "--interval",
      "0.01",
      "--count",
      "50",
      "--seed",
      "13",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await using gateway = await startGateway(pki, dir, { port });
    const status = await sensors.status;
    assert.equal(status.code, 0, sensors.output());
    const summary = parseSummary(await sensors.waitForLine(/summary/));
    assert.equal(summary.acknowledged, 50);
    assert.ok(summary.connect_failures! >= 1);
    assert.equal((await gateway.stop("SIGTERM")).code, 0);
    assert.equal(spooledReadings(join(dir, "spool.db")).length, 50);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
