/**
 * kill -9, several times, at seeded random moments, while real sensors
 * stream: sensor.ts → gateway.ts → server.ts as separate processes.
 *
 * - The gateway dies with readings in every state (arriving, batched,
 *   committed but not ACKed, ACKed, in a POST): every reading a sensor was
 *   ACKed must reach the server, none twice.
 * - The server dies in the middle of batched writes (a backlog draining in
 *   10,000-reading requests): its database must pass SQLite's integrity
 *   check after each crash, the gateway's spool must drain once it is back,
 *   and the per-sensor counts it serves must match the readings it holds.
 *
 * link_e2e_test.ts proves one SIGKILL of the gateway; these repeat it at
 * random moments and add the server's. The seed is printed; VIGIA_SEED
 * replays a run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { finishedSummary, startGateway, startSensors, startServer, waitUntil } from "./_link.ts";
import { testPki } from "./_pki.ts";
import {
  assertNothingLost,
  delay,
  freePort,
  gatewayMetric,
  integrityCheck,
  metricsPort,
  settle,
  spoolDrained,
} from "./_faults.ts";
import { randomInt, seededRandom } from "./_random.ts";

const SEED = Number(Deno.env.get("VIGIA_SEED") ?? 17);

Deno.test(`SIGKILL of the gateway at random moments, again and again: every ACKed reading stored once (seed ${SEED})`, async () => {
  const random = seededRandom(SEED);
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-faults-gw-kill-" });
  const kills: number[] = [];
  try {
    await using server = await startServer(pki, dir);
    const serverUrl = `http://127.0.0.1:${server.port}`;
    let gateway = await startGateway(pki, dir, { server: serverUrl });
    const port = gateway.port;
    try {
      const since = Date.now();
      const count = 2_500;
      await using sensors = await startSensors(pki, port, {
        sensors: 3,
        interval: 0.002,
        count,
        seed: SEED,
        ackTimeout: 1,
      });
      for (let kill = 0; kill < 5; kill++) {
        const after = randomInt(random, 200, 1_200);
        await delay(after);
        kills.push(after);
        await gateway.stop("SIGKILL");
        await delay(randomInt(random, 0, 400));
        gateway = await startGateway(pki, dir, { server: serverUrl, port });
      }
      const summary = await finishedSummary(sensors);
      assert.equal(summary.acknowledged, 3 * count, sensors.output());
      assert.equal(summary.dropped, 0);
      const tally = await settle(
        server.port,
        { sensors: [1, 2, 3], count, seed: SEED, since, until: Date.now() },
        20_000,
      );
      assertNothingLost(tally, `after ${kills.length} gateway kills (seed ${SEED})`);
      await Deno.stderr.write(
        new TextEncoder().encode(
          `gateway SIGKILL x${kills.length} after ${kills.join(",")} ms (seed ${SEED}): ` +
            `acknowledged ${summary.acknowledged}, resent ${summary.resent}, stored ${tally.stored}, ` +
            `lost ${tally.lost}, duplicated ${tally.duplicated}\n`,
        ),
      );
      assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
    } finally {
      await gateway.stop("SIGKILL");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(`SIGKILL of the server during batched writes: spool drains, nothing lost or doubled, database intact (seed ${SEED})`, async () => {
  const random = seededRandom(SEED + 1);
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-faults-srv-kill-" });
  const db = join(dir, "readings.db");
  const serverPort = freePort();
  let server = await startServer(pki, dir, { port: serverPort });
  const checks: string[] = [];
  try {
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${serverPort}`,
      args: ["--metrics-port", "0"],
    });
    const metrics = await metricsPort(gateway);
    const since = Date.now();
    const count = 4_000;
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: 3,
      interval: 0.002,
      count,
      seed: SEED,
    });
    for (let kill = 0; kill < 4; kill++) {
      // Let a backlog build up (server down or slow), then kill it while it
      // swallows that backlog in 10,000-reading requests.
      if (kill % 2 === 1) {
        await server.stop("SIGKILL");
        await delay(randomInt(random, 300, 900));
        server = await startServer(pki, dir, { port: serverPort });
      }
      const forwarded = await gatewayMetric(metrics, "forward_requests");
      await waitUntil(
        async () => (await gatewayMetric(metrics, "forward_requests")) > forwarded,
        10_000,
        "a batch written",
      );
      await delay(randomInt(random, 0, 150));
      await server.stop("SIGKILL");
      const check = integrityCheck(db);
      checks.push(check);
      assert.equal(check, "ok", `integrity_check after SIGKILL ${kill + 1}`);
      await delay(randomInt(random, 0, 500));
      server = await startServer(pki, dir, { port: serverPort });
    }
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 3 * count);
    await spoolDrained(metrics, 20_000);
    const tally = await settle(
      serverPort,
      { sensors: [1, 2, 3], count, seed: SEED, since, until: Date.now() },
      10_000,
    );
    assertNothingLost(tally, `after ${checks.length} server kills (seed ${SEED})`);
    // The per-sensor summaries were rebuilt after each crash: they match the rows.
    const sensorsList = await (await fetch(`http://127.0.0.1:${serverPort}/api/sensors`)).json();
    assert.deepEqual(
      sensorsList.map((s: { id: number; readings: number }) => [s.id, s.readings]),
      [[1, count], [2, count], [3, count]],
    );
    const duplicates = await gatewayMetric(metrics, "forward_duplicates");
    await Deno.stderr.write(
      new TextEncoder().encode(
        `server SIGKILL x${checks.length} during writes (seed ${SEED}): stored ${tally.stored}, ` +
          `lost ${tally.lost}, duplicated ${tally.duplicated}, re-posted and deduplicated ` +
          `${duplicates}, integrity_check ${checks.join(",")}\n`,
      ),
    );
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
    assert.equal((await server.stop("SIGTERM")).code, 0, server.output());
    assert.equal(integrityCheck(db), "ok");
  } finally {
    await server.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sensor.ts survives handshakes cut off by a dying gateway and delivers every reading later", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-faults-handshake-" });
  // A gateway that dies mid-handshake, every time: the TCP connect succeeds,
  // the ClientHello is read, then the connection is dropped.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  let cutOff = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      await conn.read(new Uint8Array(4096)).catch(() => null);
      conn.close();
      cutOff++;
    }
  })().catch(() => {}); // ends when the listener closes
  try {
    await using sensors = await startSensors(pki, port, {
      sensors: 2,
      count: 20,
      interval: 0.01,
      seed: 7,
    });
    let exited = false;
    sensors.status.then(() => (exited = true));
    await waitUntil(() => cutOff >= 4 || exited, 15_000, "handshakes cut off");
    listener.close();
    await accepting;
    assert.equal(exited, false, `sensor.ts died on a cut-off handshake:\n${sensors.output()}`);
    // A real gateway comes up on that port: everything measured meanwhile arrives.
    await using gateway = await startGateway(pki, dir, { port });
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 40, sensors.output());
    assert.equal(summary.dropped, 0);
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
  } finally {
    try {
      listener.close();
    } catch { /* closed above */ }
    await Deno.remove(dir, { recursive: true });
  }
});
