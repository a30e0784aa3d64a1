/**
 * The OPC UA client (gateway/opcua_source.ts) against a real
 * node-opcua-server (the simulator's), in process: security modes, the
 * pinned certificate, user identity, unknown nodes, Bad values, restarts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type OpcuaServer, startOpcuaServer } from "../opcua/simulator.ts";
import { parseOpcuaConfig, readOpcuaConfig } from "../gateway/opcua_config.ts";
import { type OpcuaIdentity, readOpcuaIdentity } from "../gateway/opcua_security.ts";
import { type OpcuaErrorKind, OpcuaMetrics } from "../gateway/opcua_metrics.ts";
import { OpcuaServerSource } from "../gateway/opcua_source.ts";
import { FaultReporter, type SourceReading } from "../gateway/sources.ts";
import { createLogger } from "../lib/log.ts";
import { seededRandom } from "../lib/random.ts";
import { testPki } from "./_pki.ts";

// node-opcua keeps process-wide timers (clock adjustment, its own sockets'
// housekeeping) that outlive one test; everything we open is closed in
// `finally` and checked through the server's and the source's own state.
const OPTIONS = { sanitizeOps: false, sanitizeResources: false } as const;

interface Harness {
  readonly server: OpcuaServer;
  readonly readings: SourceReading[];
  readonly lines: string[];
  readonly metrics: OpcuaMetrics;
  /** Whether the source's session is up (`vigia_opcua_server_up`). */
  up(): boolean;
  errors(kind: OpcuaErrorKind): number;
  /** Stops the server, waits until the source noticed, starts it again on the same port and PKI. */
  restart(): Promise<void>;
  waitFor(what: string, done: () => boolean, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

async function gatewayIdentity(): Promise<{ identity: OpcuaIdentity; trust: string }> {
  const pki = await testPki(1);
  return { identity: await readOpcuaIdentity(pki.dir), trust: pki.opcuaCert };
}

interface Setup {
  readonly server?: Partial<Parameters<typeof startOpcuaServer>[0]>;
  /** The server entry of the file, minus name and endpoint (filled in). */
  readonly file: (server: OpcuaServer) => Record<string, unknown>;
}

const opensslConf = Deno.env.get("OPENSSL_CONF");

async function start(setup: Setup): Promise<Harness> {
  const { identity, trust } = await gatewayIdentity();
  const pki = await Deno.makeTempDir({ prefix: "opcua-pki-" });
  const serverOptions = { port: 0, pki, intervalMs: 0, trust: [trust], ...setup.server };
  let server = await startOpcuaServer(serverOptions);
  const text = JSON.stringify({
    servers: [{ name: "line-1", endpoint: server.endpoint, ...setup.file(server) }],
  });
  const file = join(pki, "plant.json");
  await Deno.writeTextFile(file, text);
  const config = await readOpcuaConfig(file);
  const readings: SourceReading[] = [];
  const lines: string[] = [];
  const log = createLogger("gateway", { write: (line) => lines.push(line) });
  const metrics = new OpcuaMetrics();
  const source = new OpcuaServerSource(config.servers[0]!, {
    identity,
    log,
    metrics,
    faults: new FaultReporter(log, { server: "line-1" }),
    onReading: (reading) => readings.push(reading),
    random: seededRandom(1),
    maxBackoffMs: 1_000,
  });
  const up = () => metrics.up.get("line-1") === 1;
  const controller = new AbortController();
  const running = source.run(controller.signal);
  const harness: Harness = {
    get server() {
      return server;
    },
    readings,
    lines,
    metrics,
    up,
    errors: (kind) => metrics.errors.get({ server: "line-1", kind }),
    async restart() {
      await server.stop();
      await harness.waitFor("the loss", () => !up());
      server = await startOpcuaServer({ ...serverOptions, port: server.port });
    },
    async waitFor(what, done, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!done()) {
        if (Date.now() > deadline) {
          const state = `${readings.length} readings; metrics:\n${metrics.registry.render()}`;
          throw new Error(`timed out waiting for ${what} (${state}); log:\n${lines.join("\n")}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      controller.abort();
      await running;
      await server.stop().catch(() => {});
      // Tests in this process run openssl later: node-opcua must leave its environment as found.
      assert.equal(Deno.env.get("OPENSSL_CONF"), opensslConf);
    },
  };
  return harness;
}

const pinned = (server: OpcuaServer) => ({ serverCertificate: server.certificatePath });
const BOILER = {
  id: 201,
  temperature: { node: "ns=1;s=Boiler.Temperature" },
  pressure: { node: "ns=1;s=Boiler.Pressure", scale: 10 },
};

Deno.test(
  "OpcuaServerSource makes readings over SignAndEncrypt with the pinned certificate",
  OPTIONS,
  async () => {
    const h = await start({
      file: (server) => ({
        ...pinned(server),
        publishingInterval: 0.05,
        sensors: [BOILER, { id: 202, humidity: { node: "ns=1;s=Boiler.Humidity", offset: -5 } }],
      }),
    });
    try {
      await h.waitFor("the first readings", () => h.readings.length >= 2);
      const first = h.readings.find((r) => r.sensorId === 201)!;
      // Initial values: 72 °C, 1013 hPa × 10; humidity is not mapped for 201.
      assert.deepEqual(
        { ...first, timestamp: 0 },
        { sensorId: 201, timestamp: 0, temperature: 7200, pressure: 1013000, humidity: null },
      );
      const humid = h.readings.find((r) => r.sensorId === 202)!;
      assert.equal(humid.humidity, 4000);
      assert.ok(Math.abs(first.timestamp - Date.now()) < 60_000);

      const before = Date.now();
      h.server.set("Boiler.Temperature", 21.456);
      await h.waitFor("the change", () => h.readings.some((r) => r.temperature === 2146));
      const changed = h.readings.find((r) => r.temperature === 2146)!;
      // The unchanged quantity keeps its last known good value.
      assert.equal(changed.pressure, 1013000);
      assert.ok(changed.timestamp >= before - 1000, "the source timestamp of the change");
      assert.equal(h.up(), true);
      assert.ok(h.metrics.notifications.get({ server: "line-1" }) >= 2);
      assert.ok(h.lines.some((line) => line.includes("subscribed to opc.tcp://127.0.0.1")));
    } finally {
      await h.stop();
    }
  },
);

Deno.test("OpcuaServerSource works with security None and no certificate", OPTIONS, async () => {
  const h = await start({ file: () => ({ security: "None", sensors: [BOILER] }) });
  try {
    await h.waitFor("a reading", () => h.readings.length >= 1);
    assert.ok(h.lines.some((line) => line.includes("security=None")));
  } finally {
    await h.stop();
  }
});

Deno.test(
  "OpcuaServerSource refuses a server whose certificate is not the pinned one",
  OPTIONS,
  async () => {
    const other = await startOpcuaServer({
      port: 0,
      pki: await Deno.makeTempDir({ prefix: "opcua-pki-" }),
      intervalMs: 0,
    });
    await other.stop();
    const h = await start({
      file: () => ({ serverCertificate: other.certificatePath, sensors: [BOILER] }),
    });
    try {
      await h.waitFor("two refusals", () => h.errors("certificate") >= 2);
      assert.equal(h.readings.length, 0);
      assert.equal(h.up(), false);
      const refusals = h.lines.filter((line) =>
        line.includes("presented a certificate other than")
      );
      assert.equal(refusals.length, 1, "logged once while it lasts");
      assert.match(refusals[0]!, new RegExp(h.server.endpoint.replaceAll(".", "\\.")));
      assert.ok(refusals[0]!.includes(`pinned sha256=${other.fingerprint}`), refusals[0]);
      assert.ok(refusals[0]!.includes(`presented sha256=${h.server.fingerprint}`), refusals[0]);
    } finally {
      await h.stop();
    }
  },
);

Deno.test(
  "OpcuaServerSource reports a server that does not trust the gateway's certificate",
  OPTIONS,
  async () => {
    const h = await start({
      server: { trust: [] },
      file: (server) => ({ ...pinned(server), sensors: [BOILER] }),
    });
    try {
      await h.waitFor("two refusals", () => h.errors("connect") >= 2);
      assert.equal(h.readings.length, 0);
      const refusals = h.lines.filter((line) => line.includes("BadSecurityChecksFailed"));
      assert.equal(refusals.length, 1, h.lines.join("\n"));
      assert.match(
        refusals[0]!,
        /WARN cannot connect to opc\.tcp:\/\/127\.0\.0\.1:\d+\/UA\/Plant: /,
      );
    } finally {
      await h.stop();
    }
  },
);

Deno.test(
  "OpcuaServerSource logs an unknown node once and goes on with the others",
  OPTIONS,
  async () => {
    const h = await start({
      file: (server) => ({
        ...pinned(server),
        publishingInterval: 0.05,
        sensors: [
          {
            id: 201,
            temperature: { node: "ns=1;s=Boiler.Temperature" },
            pressure: { node: "ns=1;s=Nope" },
          },
          { id: 202, humidity: { node: "ns=1;s=Boiler.Humidity" } },
        ],
      }),
    });
    try {
      await h.waitFor("both sensors", () => new Set(h.readings.map((r) => r.sensorId)).size === 2);
      h.server.set("Boiler.Temperature", 30);
      await h.waitFor("the change", () => h.readings.some((r) => r.temperature === 3000));
      assert.equal(h.readings.find((r) => r.sensorId === 201)!.pressure, null);
      const unknown = h.lines.filter((line) => line.includes("ns=1;s=Nope"));
      assert.equal(unknown.length, 1);
      assert.match(unknown[0]!, /sensor 201 cannot be monitored: BadNodeIdUnknown/);
      assert.equal(h.errors("node"), 1);
    } finally {
      await h.stop();
    }
  },
);

Deno.test(
  "OpcuaServerSource makes no reading for a sensor while one of its values is Bad",
  OPTIONS,
  async () => {
    const h = await start({
      file: (server) => ({
        ...pinned(server),
        publishingInterval: 0.05,
        sensors: [BOILER, { id: 202, humidity: { node: "ns=1;s=Boiler.Humidity" } }],
      }),
    });
    try {
      await h.waitFor("both sensors", () => new Set(h.readings.map((r) => r.sensorId)).size === 2);
      h.server.set("Boiler.Pressure", 0, "BadSensorFailure");
      await h.waitFor("the Bad value", () => h.errors("value") >= 1);
      const during = h.readings.length;
      h.server.set("Boiler.Temperature", 50);
      h.server.set("Boiler.Humidity", 60);
      await h.waitFor(
        "the other sensor's reading",
        () => h.readings.some((r) => r.humidity === 6000),
      );
      assert.ok(!h.readings.slice(during).some((r) => r.sensorId === 201), "no reading for 201");
      h.server.set("Boiler.Pressure", 1000);
      await h.waitFor("201 back", () => h.readings.some((r) => r.pressure === 1000000));
      // The change made while Bad was kept as the last known good value.
      assert.equal(h.readings.find((r) => r.pressure === 1000000)!.temperature, 5000);
      const bad = h.lines.filter((line) => line.includes("Boiler.Pressure"));
      assert.equal(bad.length, 2, bad.join("\n"));
      assert.match(
        bad[0]!,
        /WARN node .* \(sensor 201 pressure\): value unusable, status BadSensorFailure/,
      );
      assert.match(bad[1]!, /cleared: node ns=1;s=Boiler\.Pressure/);
    } finally {
      await h.stop();
    }
  },
);

Deno.test("OpcuaServerSource resubscribes after the server restarts", OPTIONS, async () => {
  const h = await start({
    file: (server) => ({ ...pinned(server), publishingInterval: 0.05, sensors: [BOILER] }),
  });
  try {
    await h.waitFor("a reading", () => h.readings.length >= 1);
    await h.restart();
    await h.waitFor("the session back", () => h.up(), 30_000);
    h.server.set("Boiler.Temperature", 12.34);
    await h.waitFor("a new reading", () => h.readings.some((r) => r.temperature === 1234));
    assert.ok(h.lines.some((line) => /WARN lost .*connection/.test(line)));
    assert.ok(h.lines.some((line) => /cleared: lost .*connection/.test(line)));
  } finally {
    await h.stop();
  }
});

Deno.test(
  "OpcuaServerSource connects even when the server advertises another host name",
  OPTIONS,
  async () => {
    const h = await start({
      server: { advertisedHost: "plant-opc.invalid" },
      file: (server) => ({ ...pinned(server), sensors: [BOILER] }),
    });
    try {
      await h.waitFor("a reading", () => h.readings.length >= 1);
    } finally {
      await h.stop();
    }
  },
);

Deno.test(
  "OpcuaServerSource signs in with user and password, and reports a refusal",
  OPTIONS,
  async (t) => {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(join(dir, "good.pass"), "s3cret-pass\n");
    await Deno.writeTextFile(join(dir, "bad.pass"), "wrong-pass\n");
    for (
      const [name, file, accepted] of [["accepted", "good.pass", true], [
        "refused",
        "bad.pass",
        false,
      ]] as const
    ) {
      await t.step(name, async () => {
        const h = await start({
          server: { user: { name: "vigia", password: "s3cret-pass" } },
          file: (server) => ({
            ...pinned(server),
            user: "vigia",
            passwordFile: join(dir, file),
            sensors: [BOILER],
          }),
        });
        try {
          if (accepted) {
            await h.waitFor("a reading", () => h.readings.length >= 1);
          } else {
            await h.waitFor("two refusals", () => h.errors("session") >= 2);
            assert.equal(h.readings.length, 0);
            const refusals = h.lines.filter((line) => line.includes("cannot open a session"));
            assert.equal(refusals.length, 1);
            assert.match(
              refusals[0]!,
              /Bad(UserAccessDenied|IdentityTokenRejected|IdentityTokenInvalid)/,
            );
          }
          assert.ok(
            !h.lines.some((line) => /s3cret|wrong-pass/.test(line)),
            "no password in the log",
          );
        } finally {
          await h.stop();
        }
      });
    }
  },
);

Deno.test(
  "OpcuaServerSource stops at once while a server that never answers is being dialled",
  OPTIONS,
  async () => {
    const { identity } = await gatewayIdentity();
    // Accepts TCP connections and never says a word: an OPC UA Hello gets no answer.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    const text = JSON.stringify({
      servers: [{
        name: "mute",
        endpoint: `opc.tcp://127.0.0.1:${listener.addr.port}/UA`,
        security: "None",
        sensors: [BOILER],
      }],
    });
    const lines: string[] = [];
    const log = createLogger("gateway", { write: (line) => lines.push(line) });
    const metrics = new OpcuaMetrics();
    const source = new OpcuaServerSource(parseOpcuaConfig("mute.json", text).servers[0]!, {
      identity,
      log,
      metrics,
      faults: new FaultReporter(log, { server: "mute" }),
      onReading: () => {},
    });
    const controller = new AbortController();
    const running = source.run(controller.signal);
    try {
      while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort();
      const stopped = await Promise.race([
        running.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000)),
      ]);
      assert.ok(stopped, "run() resolves well before the 10 s connect timeout");
      assert.equal(metrics.errors.get({ server: "mute", kind: "connect" }), 0, lines.join("\n"));
      assert.deepEqual(lines, [], "stopping is not a fault");
    } finally {
      controller.abort();
      await running;
      listener.close();
      await accepting.catch(() => {});
      for (const conn of held) conn.close();
    }
  },
);
