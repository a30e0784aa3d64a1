/**
 * Revocation end to end, with real processes: `deno task certs --revoke`
 * on a live plant. The gateway drops the revoked sensor's connection and
 * refuses its certificate from then on, naming the sensor and the reason;
 * the other sensors go on; what the revoked sensor sent before stays
 * stored; and a CRL reloaded again and again under load loses nothing.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { certsPaths } from "../certs.ts";
import { encodeReading, ERROR_CODES } from "../protocol/mod.ts";
import {
  closeQuietly,
  connectSensor,
  encodeReadings,
  errorCode,
  fetchAllReadings,
  finishedSummary,
  hasAck,
  readFrames,
  startGateway,
  startSensors,
  startServer,
  waitUntil,
} from "./_link.ts";
import { delay } from "./_faults.ts";
import { testReading } from "./_reading.ts";
import { runCerts, type TestPki } from "./_pki.ts";

/** A PKI of this test's own: revocation changes it. */
async function revocablePki(parent: string, sensors: number): Promise<TestPki> {
  const dir = join(parent, "certs");
  const made = await runCerts(dir, ["--sensors", String(sensors)]);
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  const paths = certsPaths(dir);
  return { ...paths, dir, tokenValue: (await Deno.readTextFile(paths.token)).trim() };
}

async function revoke(pki: TestPki, id: number): Promise<void> {
  const output = await runCerts(pki.dir, ["--revoke", String(id)]);
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

/** Sends readings `from..to` of `id` on `conn` and waits for the ACK of the last. */
async function sendAcked(conn: Deno.TlsConn, id: number, from: number, to: number): Promise<void> {
  const readings = Array.from({ length: to - from + 1 }, (_, i) => testReading(id, from + i));
  await conn.write(encodeReadings(readings));
  const { frames } = await readFrames(conn, (f) => hasAck(f, to), 5_000);
  assert.ok(hasAck(frames, to), `sensor ${id}: ACK ${to}`);
}

Deno.test("certs --revoke shuts one sensor out of a running gateway; the others and its stored readings stay", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-revocation-" });
  try {
    const pki = await revocablePki(dir, 3);
    await using server = await startServer(pki, dir);
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${server.port}`,
    });
    const one = await connectSensor(gateway.port, pki, 1);
    const two = await connectSensor(gateway.port, pki, 2);
    try {
      await sendAcked(one, 1, 1, 5);
      await sendAcked(two, 2, 1, 5);

      await revoke(pki, 2);
      const dropped = await gateway.waitForLine(/dropping revoked sensor/, 10_000);
      assert.match(dropped, /sensor=2 .*reason="certificate serial [0-9A-F]+ revoked on \d{4}-/);
      const { frames, closed } = await readFrames(two, () => false, 5_000);
      assert.equal(errorCode(frames), ERROR_CODES.identity, "ERROR 2 to the revoked sensor");
      assert.ok(closed, "and its connection closed");

      await sendAcked(one, 1, 6, 10); // the connection already open goes on

      // A new connection with the revoked certificate: closed before a frame is read.
      const again = await connectSensor(gateway.port, pki, 2).catch(() => undefined);
      if (again !== undefined) {
        await again.write(encodeReading(testReading(2, 6))).catch(() => {});
        const answer = await readFrames(again, () => false, 5_000);
        assert.deepEqual(answer.frames, [], "no ACK, no frame at all");
        assert.ok(answer.closed);
        closeQuietly(again);
      }
      const refused = await gateway.waitForLine(/rejected revoked sensor certificate/, 5_000);
      assert.match(refused, /sensor=sensor-2 reason="certificate serial [0-9A-F]+ revoked on/);

      const three = await connectSensor(gateway.port, pki, 3); // never connected before
      try {
        await sendAcked(three, 3, 1, 3);
      } finally {
        closeQuietly(three);
      }

      // Everything ACKed reached the server, the revoked sensor's five included.
      await waitUntil(
        async () => (await fetchAllReadings(server.port)).length === 18,
        10_000,
        "18 stored",
      );
      const stored = await fetchAllReadings(server.port);
      assert.deepEqual(
        stored.filter((r) => r.sensorId === 2).map((r) => r.seq).sort((a, b) => a - b),
        [1, 2, 3, 4, 5],
      );
    } finally {
      closeQuietly(one);
      closeQuietly(two);
    }
    assert.equal((await gateway.stop()).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gateway reloads its CRL again and again under load and loses no reading", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-revocation-load-" });
  try {
    const pki = await revocablePki(dir, 8);
    await using server = await startServer(pki, dir);
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${server.port}`,
    });
    // Sensors 1..4 under load; 5..8 are revoked one after another meanwhile.
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: 4,
      interval: 0.005,
      count: 2_000,
      seed: 19,
    });
    for (const id of [5, 6, 7, 8]) {
      await revoke(pki, id);
      await gateway.waitForLine(new RegExp(`reloaded .*revoked=${id - 4}\\b`), 10_000);
      Deno.kill(gateway.pid, "SIGHUP");
    }
    assert.ok(
      !sensors.output().includes("summary"),
      "the reloads happened while the sensors were still sending",
    );
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 8_000, sensors.output());
    await waitUntil(
      async () => (await fetchAllReadings(server.port)).length >= 8_000,
      20_000,
      "all stored",
    );
    const stored = await fetchAllReadings(server.port);
    const keys = new Set(stored.map((r) => `${r.sensorId}:${r.seq}`));
    assert.equal(stored.length, 8_000, "nothing twice");
    assert.equal(keys.size, 8_000, "nothing lost");
    assert.equal((await gateway.stop()).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a revoked sensor says why it is shut out, once, instead of looking connected", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-revoked-sensor-" });
  try {
    const pki = await revocablePki(dir, 1);
    await revoke(pki, 1);
    await using gateway = await startGateway(pki, dir);
    await using sensor = await startSensors(pki, gateway.port, { sensors: 1, interval: 0.1 });
    // After the handshake, as a rule; during it when the gateway is quicker than the sensor.
    const said = await sensor.waitForLine(/; retrying/, 10_000);
    assert.match(
      said,
      /closed the connection before acknowledging a reading|refused this sensor's certificate/,
    );
    await gateway.waitForLine(/rejected revoked sensor certificate.*sensor-1/, 5_000);
    // The list was there at start: reported, but after the first line, which stays `listening on`.
    const [first, second] = gateway.output().split("\n");
    assert.match(first!, /gateway listening on 127\.0\.0\.1:\d+ /, gateway.output());
    assert.match(second!, /revocation list loaded .*revoked=1/, gateway.output());
    // Several more refused reconnections (backoff 0.1 s, 0.2 s, 0.4 s, ...).
    await delay(2_000);
    assert.equal((await sensor.stop("SIGTERM")).code, 0, sensor.output());
    const lines = sensor.output().split("\n");
    const connected = lines.filter((line) => /connected sensor=1/.test(line));
    assert.ok(connected.length <= 1, `"connected" only before the first drop:\n${sensor.output()}`);
    const retrying = lines.filter((line) => /; retrying/.test(line));
    assert.equal(retrying.length, 1, `said once:\n${sensor.output()}`);
    assert.match(sensor.output(), /summary sensors=1 sent=\d+ acknowledged=0 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
