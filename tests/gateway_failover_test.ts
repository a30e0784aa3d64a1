/**
 * The gateway with several servers (`--server URL,URL`): the forwarder
 * spreads requests over the servers that answer and moves on at once from
 * one that does not; and the whole chain on PostgreSQL — two server.ts
 * processes on one database, one gateway with both URLs, sensors streaming,
 * SIGKILL of one server then the other — stores every reading exactly once,
 * readable through either server.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Forwarder } from "../gateway/forwarder.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { openSpool } from "../gateway/spool.ts";
import { createLogger } from "../lib/log.ts";
import {
  assertNothingLost,
  delay,
  freePort,
  gatewayMetric,
  metricsPort,
  settle,
  spoolDrained,
} from "./_faults.ts";
import { finishedSummary, startGateway, startSensors, waitUntil } from "./_link.ts";
import { testPki } from "./_pki.ts";
import { POSTGRES_MISSING, sharedPostgres, stopSharedPostgres } from "./_postgres.ts";
import { startProgram } from "./_process.ts";
import { testReading } from "./_reading.ts";
import { commitReadings } from "./_spool.ts";

const SEED = Number(Deno.env.get("VIGIA_SEED") ?? 17);

/** An ingest peer that stores everything and counts the requests it got. */
function startPeer() {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json() as unknown[];
    requests++;
    return Response.json({ stored: body.length, duplicates: 0 });
  });
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}`),
    requests: () => requests,
    stop: () => server.shutdown(),
  };
}

function forwarderTo(servers: URL[]) {
  const spool = openSpool(":memory:", { maxReadings: 1_000_000 });
  const forwarder = new Forwarder(spool, {
    server: servers,
    token: "failover-token",
    metrics: new GatewayMetrics(),
    log: createLogger("gateway", { write: () => {} }),
    maxReadings: 100,
    // A failover that waited for the backoff would take 10 s per retry.
    backoff: { baseMs: 10_000, maxMs: 10_000 },
  });
  return { spool, forwarder, running: forwarder.run() };
}

Deno.test("Forwarder spreads requests over the servers that answer", async () => {
  const [a, b] = [startPeer(), startPeer()];
  const { spool, forwarder, running } = forwarderTo([a.url, b.url]);
  try {
    for (let i = 0; i < 20; i++) {
      commitReadings(spool, Array.from({ length: 100 }, (_, k) => testReading(1, i * 100 + k)));
    }
    forwarder.notify();
    await waitUntil(() => spool.depth === 0, 10_000, "the spool emptied");
    assert.equal(a.requests() + b.requests(), 20);
    assert.ok(a.requests() >= 5 && b.requests() >= 5, `${a.requests()} / ${b.requests()}`);
  } finally {
    forwarder.stop(0);
    await running;
    spool.close();
    await a.stop();
    await b.stop();
  }
});

Deno.test("Forwarder moves on at once from a server that does not answer", async () => {
  const alive = startPeer();
  const dead = new URL(`http://127.0.0.1:${freePort()}`);
  const { spool, forwarder, running } = forwarderTo([dead, alive.url]);
  try {
    for (let i = 0; i < 10; i++) {
      commitReadings(spool, Array.from({ length: 100 }, (_, k) => testReading(2, i * 100 + k)));
    }
    forwarder.notify();
    // Well under one backoff step (10 s): no wait between the two servers.
    await waitUntil(() => spool.depth === 0, 5_000, "the spool emptied through the live server");
    assert.equal(alive.requests(), 10);
  } finally {
    forwarder.stop(0);
    await running;
    spool.close();
    await alive.stop();
  }
});

Deno.test({
  name:
    `postgres: two servers, one gateway with both URLs, SIGKILL of each in turn: every reading once (seed ${SEED})`,
  ignore: POSTGRES_MISSING !== undefined,
  fn: async () => {
    const pki = await testPki(3);
    const url = await (await sharedPostgres()).createDatabase();
    const dir = await Deno.makeTempDir({ prefix: "vigia-failover-" });
    const ports = [freePort(), freePort()];
    const start = (port: number) =>
      startProgram("server.ts", ["--port", String(port), "--db", url, "--token-file", pki.token], {
        allow: [`--allow-read=${pki.dir}`],
      });
    const servers = [await start(ports[0]!), await start(ports[1]!)];
    try {
      await using gateway = await startGateway(pki, dir, {
        server: ports.map((port) => `http://127.0.0.1:${port}`).join(","),
        args: ["--metrics-port", "0"],
      });
      const metrics = await metricsPort(gateway);
      const since = Date.now();
      const count = 3_000;
      await using sensors = await startSensors(pki, gateway.port, {
        sensors: 3,
        interval: 0.002,
        count,
        seed: SEED,
      });
      const requestsAfter = async (more: number) => {
        const now = await gatewayMetric(metrics, "forward_requests");
        await waitUntil(
          async () => (await gatewayMetric(metrics, "forward_requests")) >= now + more,
          20_000,
          `${more} more requests forwarded`,
        );
      };
      await requestsAfter(6);
      for (const port of ports) {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(
          text,
          /vigia_http_requests_total\{route="\/api\/data",method="POST",status="200"\} [1-9]/,
          `server on ${port} took a share of the load`,
        );
      }
      for (const victim of [0, 1]) {
        await servers[victim]!.stop("SIGKILL");
        await requestsAfter(3); // through the other server alone
        await delay(200);
        servers[victim] = await start(ports[victim]!);
      }
      const summary = await finishedSummary(sensors);
      assert.equal(summary.acknowledged, 3 * count);
      await spoolDrained(metrics, 30_000);
      const run = { sensors: [1, 2, 3], count, seed: SEED, since, until: Date.now() };
      for (const port of ports) {
        assertNothingLost(await settle(port, run, 15_000), `through the server on ${port}`);
      }
      assert.equal((await gateway.stop("SIGTERM")).code, 0, gateway.output());
    } finally {
      for (const server of servers) await server.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "postgres: stop the cluster of this file",
  ignore: POSTGRES_MISSING !== undefined,
  fn: stopSharedPostgres,
});
