/**
 * The OPC UA source in a real gateway process, against the simulated
 * server (node-opcua-server) as its own process: readings stored on a real
 * server over SignAndEncrypt with the pinned certificate, seqs that go on
 * after a SIGKILL of the gateway, the metrics, a TLS sensor refused for an
 * OPC UA-owned id, and a file with a mistake stopping the gateway at start.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ERROR_CODES, type Reading } from "../protocol/mod.ts";
import { freePort, metricsPort } from "./_faults.ts";
import {
  closeQuietly,
  connectSensor,
  errorCode,
  fetchAllReadings,
  readFrames,
  startGateway,
  startServer,
  waitUntil,
} from "./_link.ts";
import { testPki } from "./_pki.ts";
import { type RunningProgram, startProgram } from "./_process.ts";
import { startChild } from "../lib/child.ts";
import { launchArgs } from "../lib/launch.ts";

const WAIT_MS = 30_000;

/** Starts opcua_server.ts on `port` with its PKI in `dir`, trusting the gateway's certificate. */
async function startOpcuaServer(dir: string, trust: string, port = 0): Promise<RunningProgram> {
  return await startProgram("opcua_server.ts", [
    ...["--port", String(port), "--pki", join(dir, "opcua-pki"), "--trust", trust],
    ...["--interval", "0.05"],
  ], {
    allow: [`--allow-read=${dir},${trust}`, `--allow-write=${dir}`],
    timeoutMs: 60_000,
  });
}

/** The endpoint and certificate path the simulated server's first line names. */
function announced(server: RunningProgram): { endpoint: string; certificate: string } {
  const line = server.lines().find((l) => l.includes("listening on"))!;
  return {
    endpoint: /endpoint=(\S+)/.exec(line)![1]!,
    certificate: /certificate=(\S+)/.exec(line)![1]!,
  };
}

/** One `vigia_opcua_<name>` series from a gateway's `/metrics`. */
async function opcuaMetric(port: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`vigia_opcua_${series} `));
  if (line === undefined) throw new Error(`no vigia_opcua_${series} in:\n${text}`);
  return Number(line.split(" ")[1]);
}

Deno.test("gateway --opcua stores a server's data changes in seq order, across a SIGKILL of the gateway", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-" });
  await using opcua = await startOpcuaServer(dir, pki.opcuaCert);
  const { endpoint, certificate } = announced(opcua);
  const file = join(dir, "opcua.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        name: "boiler",
        endpoint,
        serverCertificate: certificate,
        publishingInterval: 0.1,
        sensors: [
          {
            id: 201,
            temperature: { node: "ns=1;s=Boiler.Temperature" },
            pressure: { node: "ns=1;s=Boiler.Pressure" },
          },
          { id: 202, humidity: { node: "ns=1;s=Boiler.Humidity" } },
        ],
      }],
    }),
  );
  const serverPort = freePort();
  await using server = await startServer(pki, dir, { port: serverPort });
  const gatewayArgs = {
    server: `http://127.0.0.1:${serverPort}`,
    args: ["--opcua", file, "--metrics-port", "0"],
  };
  const stored = async (id: number) =>
    (await fetchAllReadings(server.port)).filter((r: Reading) => r.sensorId === id);

  let gateway = await startGateway(pki, dir, gatewayArgs);
  try {
    const metrics = await metricsPort(gateway);
    await waitUntil(
      async () => (await stored(201)).length >= 5 && (await stored(202)).length >= 5,
      WAIT_MS,
      "five readings of each OPC UA sensor on the server",
    );
    assert.equal(await opcuaMetric(metrics, 'server_up{server="boiler"}'), 1);
    assert.ok(await opcuaMetric(metrics, 'notifications_total{server="boiler"}') >= 5);
    assert.equal(await opcuaMetric(metrics, 'errors_total{server="boiler",kind="certificate"}'), 0);
    const first = (await stored(201))[0]!;
    // Hundredths: about 72 °C and 1013 hPa, from the simulated Boiler.
    assert.ok(first.temperature! > 2000 && first.pressure! > 90_000, JSON.stringify(first));
    assert.equal(first.humidity, null, "sensor 201 does not measure humidity");
    assert.ok(
      gateway.lines().some((l) => /opcua: subscribed to .* security=SignAndEncrypt/.test(l)),
    );

    await gateway.stop("SIGKILL");
    const before = (await stored(201)).length;
    gateway = await startGateway(pki, dir, gatewayArgs);
    await waitUntil(
      async () => (await stored(201)).length >= before + 5,
      WAIT_MS,
      "readings after the gateway's restart",
    );
    for (const id of [201, 202]) {
      const seqs = (await stored(id)).map((r) => r.seq).sort((a, b) => a - b);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `sensor ${id}: seqs 1..N, none reused`);
    }
  } catch (error) {
    // deno-lint-ignore no-console
    console.error(gateway.output());
    throw error;
  } finally {
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
  }
});

Deno.test("gateway --opcua heals: server down at start, then SIGKILLed and restarted with the same certificate", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-heal-" });
  const opcuaPort = freePort();
  // The simulator makes its certificate on first start: make it, note it, stop it.
  let opcua = await startOpcuaServer(dir, pki.opcuaCert, opcuaPort);
  const { endpoint, certificate } = announced(opcua);
  await opcua.stop();
  const file = join(dir, "opcua.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        name: "boiler",
        endpoint,
        serverCertificate: certificate,
        publishingInterval: 0.1,
        sensors: [{ id: 201, temperature: { node: "ns=1;s=Boiler.Temperature" } }],
      }],
    }),
  );
  await using server = await startServer(pki, dir);
  await using gateway = await startGateway(pki, dir, {
    server: `http://127.0.0.1:${server.port}`,
    args: ["--opcua", file],
  });
  const stored = async () =>
    (await fetchAllReadings(server.port)).filter((r: Reading) => r.sensorId === 201);
  try {
    await gateway.waitForLine(/WARN cannot connect to opc\.tcp:/, WAIT_MS);
    opcua = await startOpcuaServer(dir, pki.opcuaCert, opcuaPort);
    await waitUntil(async () => (await stored()).length >= 5, WAIT_MS, "readings once it is up");
    await opcua.stop("SIGKILL");
    await gateway.waitForLine(/WARN lost opc\.tcp:.*server=boiler/, WAIT_MS);
    const before = (await stored()).length;
    opcua = await startOpcuaServer(dir, pki.opcuaCert, opcuaPort);
    await waitUntil(
      async () => (await stored()).length >= before + 5,
      WAIT_MS,
      "readings after the restart",
    );
    const seqs = (await stored()).map((r) => r.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), "seqs 1..N, each once");
    const lines = gateway.lines();
    assert.equal(lines.filter((l) => /WARN cannot connect to/.test(l)).length, 1, "logged once");
    assert.ok(lines.some((l) => /cleared: lost opc\.tcp:/.test(l)), gateway.output());
    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
  } finally {
    await opcua.stop("SIGKILL");
  }
});

Deno.test("gateway --opcua refuses a TLS sensor whose certificate names an OPC UA-owned id (ERROR 2)", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-" });
  const file = join(dir, "opcua.json");
  // Nothing listens there: the id belongs to the file whether or not its server is up.
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        name: "absent",
        endpoint: `opc.tcp://127.0.0.1:${freePort()}/UA/Plant`,
        security: "None",
        sensors: [{ id: 1, temperature: { node: "ns=1;s=Boiler.Temperature" } }],
      }],
    }),
  );
  await using gateway = await startGateway(pki, dir, {
    args: ["--opcua", file],
  });
  const conn = await connectSensor(gateway.port, pki, 1);
  try {
    const { frames, closed } = await readFrames(conn, () => false, 3_000);
    assert.equal(errorCode(frames), ERROR_CODES.identity);
    assert.ok(closed);
  } finally {
    closeQuietly(conn);
  }
  await gateway.waitForLine(/cannot connect to opc\.tcp:\/\/127\.0\.0\.1:\d+\/UA\/Plant/, WAIT_MS);
  const status = await gateway.stop();
  assert.equal(status.code, 0, gateway.output());
});

Deno.test("gateway --opcua with a mistake in the file exits 2 naming the file, the field and the reason", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-" });
  const file = join(dir, "opcua.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        name: "line-1",
        endpoint: "opc.tcp://127.0.0.1:4840",
        sensors: [{ id: 7, temperature: { node: "ns=1;s=T" } }],
      }],
    }),
  );
  await using gateway = await startGateway(pki, dir, {
    args: ["--opcua", file],
    waitFor: null,
  });
  const status = await gateway.status;
  assert.equal(status.code, 2, gateway.output());
  const errors = gateway.lines().filter((line) => line.includes(file));
  assert.equal(errors.length, 1, gateway.output());
  assert.match(
    errors[0]!,
    /opcua\.json: servers\[0\]\.serverCertificate: required with security "SignAndEncrypt"/,
  );
});

Deno.test("demo --opcua shows the simulated server's sensor next to the TLS sensors and stops cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-demo-" });
  const demo = await startChild("demo.ts", [
    ...["--opcua", "--sensors", "1", "--interval", "0.2", "--port", "0", "--gateway-port", "0"],
    ...["--certs", join(dir, "certs"), "--data", join(dir, "data")],
  ], { allow: [`--allow-run=${Deno.execPath()}`] });
  try {
    const base = /dashboard: (http:\/\/\S+)\//.exec(
      await demo.waitForLine(/dashboard: /, 60_000),
    )![1]!;
    await waitUntil(
      async () => {
        const sensors = await (await fetch(`${base}/api/sensors`)).json() as {
          id: number;
          readings: number;
        }[];
        return [1, 2001].every((id) => (sensors.find((s) => s.id === id)?.readings ?? 0) >= 3);
      },
      WAIT_MS,
      "readings of TLS sensor 1 and OPC UA sensor 2001 on the server",
    );
    const status = await demo.stop("SIGTERM", 30_000);
    assert.equal(status.code, 0, demo.lines().slice(-30).join("\n"));
    assert.match(demo.lines().join("\n"), /all components stopped cleanly/);
  } catch (error) {
    await demo.stop("SIGKILL");
    throw new Error(
      `${error instanceof Error ? error.message : error}\n${demo.lines().join("\n")}`,
    );
  }
});

Deno.test("the launcher grants a gateway the environment and system information only with --opcua", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vigia-opcua-" });
  const file = join(dir, "opcua.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      servers: [{
        name: "line-1",
        endpoint: "opc.tcp://192.0.2.10:4841/UA",
        serverCertificate: join(dir, "line-1.pem"),
        user: "vigia",
        passwordFile: join(dir, "line-1.pass"),
        sensors: [{ id: 7, temperature: { node: "ns=1;s=T" } }],
      }],
    }),
  );
  const plain = await launchArgs("gateway", []);
  assert.ok(!plain.some((arg) => arg.startsWith("--allow-env") || arg.startsWith("--allow-sys")));
  const args = await launchArgs("gateway", ["--opcua", file]);
  assert.ok(args.includes("--allow-env"), args.join(" "));
  assert.ok(args.includes("--allow-sys=hostname,homedir"), args.join(" "));
  const net = args.find((arg) => arg.startsWith("--allow-net="))!;
  assert.ok(net.split(/[=,]/).includes("192.0.2.10:4841"), net);
  const read = args.find((arg) => arg.startsWith("--allow-read="))!.split(/[=,]/);
  for (const path of [file, join(dir, "line-1.pem"), join(dir, "line-1.pass")]) {
    assert.ok(read.includes(path), `${path} in ${read.join(",")}`);
  }
  await Deno.remove(dir, { recursive: true });
});
