/**
 * The server unreachable for a long time, scaled down: with a small
 * `--spool-max` the gateway's bound is reached within a second and then
 * held for several more, as it would be through an outage of hours.
 *
 * What must hold: the spool never grows past its bound and the gateway says
 * so (metrics, log lines); sensors beyond the bound are refused with ERROR 4
 * and keep their readings (nothing dropped, nothing ACKed that was not
 * spooled); when the server returns, everything arrives exactly once.
 *
 * link_e2e_test.ts proves a short outage under the bound, and
 * gateway_durability_test.ts the bound with raw clients; this is the two
 * together with real sensors and a bound that is hit and held.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  finishedSummary,
  parseSummary,
  startGateway,
  startSensors,
  startServer,
  waitUntil,
} from "./_link.ts";
import { testPki } from "./_pki.ts";
import {
  assertNothingLost,
  delay,
  freePort,
  gatewayMetric,
  metricsPort,
  settle,
  spoolDrained,
} from "./_faults.ts";

Deno.test("server unreachable: spool held at --spool-max, sensors refused with ERROR 4 keep their readings, all arrive once", async () => {
  const pki = await testPki(3);
  const dir = await Deno.makeTempDir({ prefix: "vigia-faults-outage-" });
  const serverPort = freePort();
  const spoolMax = 1_500;
  const count = 2_000;
  const seed = 31;
  try {
    await using gateway = await startGateway(pki, dir, {
      server: `http://127.0.0.1:${serverPort}`,
      args: ["--spool-max", String(spoolMax), "--metrics-port", "0", "--stats-interval", "1"],
    });
    const metrics = await metricsPort(gateway);
    const since = Date.now();
    await using sensors = await startSensors(pki, gateway.port, {
      sensors: 3,
      interval: 0.002,
      count,
      seed,
      statsInterval: 1,
    });

    // The bound is reached, and sensors are refused.
    await waitUntil(
      async () => (await gatewayMetric(metrics, "overload_refusals")) >= 3,
      10_000,
      "ERROR 4 refusals",
    );
    // ... and held: sample the depth through the rest of the outage.
    const depths: number[] = [];
    const outageEnds = Date.now() + 4_000;
    while (Date.now() < outageEnds) {
      depths.push(await gatewayMetric(metrics, "spool_depth"));
      await delay(200);
    }
    assert.ok(Math.max(...depths) <= spoolMax, `depth stayed <= ${spoolMax}: ${depths.join(",")}`);
    assert.equal(depths.at(-1), spoolMax, "the spool is full, not drained");
    assert.equal(await gatewayMetric(metrics, "commit_failures"), 0);

    // Reported: the refusals and the depth are in the gateway's log ...
    const output = gateway.output();
    assert.match(output, /closing sensor connection sensor=\d .*error=4 reason="spool full/);
    assert.match(output, new RegExp(`stats .*overload_refusals=\\d+ .*spool_depth=${spoolMax}`));
    assert.match(output, /WARN cannot forward to the server; will retry .*backlog=/);
    // ... and the sensors heard why, and kept what was not ACKed.
    await sensors.waitForLine(/gateway closed the connection sensor=\d code=4/);
    const during = parseSummary(await sensors.waitForLine(/ stats .*pending=[1-9]/));
    assert.equal(during.dropped, 0, "nothing dropped by the sensors");
    assert.ok(during.acknowledged! <= spoolMax, "nothing ACKed beyond what the spool holds");

    // The server comes back: the spool drains, the sensors deliver the rest.
    await using server = await startServer(pki, dir, { port: serverPort });
    const summary = await finishedSummary(sensors);
    assert.equal(summary.acknowledged, 3 * count);
    assert.equal(summary.dropped, 0);
    await spoolDrained(metrics, 15_000);
    const run = { sensors: [1, 2, 3], count, seed, since, until: Date.now() };
    const tally = await settle(server.port, run, 10_000);
    assertNothingLost(tally, "after the outage");
    const refusals = await gatewayMetric(metrics, "overload_refusals");
    await Deno.stderr.write(
      new TextEncoder().encode(
        `outage: spool held at ${spoolMax} for ${depths.length} samples, ${refusals} ERROR 4 ` +
          `refusals, sensors resent ${summary.resent}; stored ${tally.stored}, lost ${tally.lost}, ` +
          `duplicated ${tally.duplicated}\n`,
      ),
    );
    assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
