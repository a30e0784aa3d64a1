/**
 * The Modbus source's fault manners, each against a real misbehaving device
 * (plc.ts fault modes) polled by one real gateway process: every fault is
 * counted per device and kind, logged once when it starts (and once when it
 * clears), and never stops the other devices: wrong transaction ids,
 * garbage, connections dropped mid-request, timeouts, overruns, an exception
 * on one point. Also: a device down at start
 * and coming up, a device killed mid-poll and restarted, and a TLS sensor
 * presenting a certificate for an id the Modbus file owns.
 *
 * @module
 */

import assert from "node:assert/strict";
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
import { modbusMetric, plcFile, startPlc, writeModbusFile } from "./_modbus.ts";
import { testPki } from "./_pki.ts";
import type { RunningProgram } from "./_process.ts";

const WAIT_MS = 30_000;

Deno.test("Modbus faults: each counted and logged once per device, the other devices go on", async () => {
  const pki = await testPki(1);
  const dir = await Deno.makeTempDir({ prefix: "vigia-modbus-faults-" });
  await using server = await startServer(pki, dir);
  // a: healthy, two devices; one sensor of a-0 points at a register the PLC lacks
  let a: RunningProgram = await startPlc(["--devices", "2", "--first-id", "1"]);
  const aPort = a.port;
  await using b = await startPlc(["--slow", "0.5", "--first-id", "11"]);
  await using c = await startPlc(["--wrong-tid-every", "2", "--first-id", "21"]);
  await using d = await startPlc(["--garbage-every", "2", "--first-id", "31"]);
  await using f = await startPlc(["--drop-every", "3", "--first-id", "51"]);
  const ePort = freePort();
  const healthy = plcFile({ firstId: 1 }, { port: aPort, devices: 2, namePrefix: "a-" });
  const sensors = (healthy.devices[0] as { sensors: { humidity: { address: number } }[] }).sensors;
  sensors[2]!.humidity.address = 900;
  const file = await writeModbusFile(dir, {
    devices: [
      ...healthy.devices,
      ...plcFile({ firstId: 11 }, { port: b.port, interval: 0.1, timeout: 0.3, namePrefix: "b-" })
        .devices,
      ...plcFile({ firstId: 21 }, { port: c.port, namePrefix: "c-" }).devices,
      ...plcFile({ firstId: 31 }, { port: d.port, namePrefix: "d-" }).devices,
      ...plcFile({ firstId: 51 }, { port: f.port, namePrefix: "f-" }).devices,
      ...plcFile({ firstId: 41 }, { port: ePort, namePrefix: "e-" }).devices,
    ],
  });
  await using gateway = await startGateway(pki, dir, {
    server: `http://127.0.0.1:${server.port}`,
    args: ["--modbus", file, "--metrics-port", "0"],
  });
  let e: RunningProgram | undefined;
  try {
    const metrics = await metricsPort(gateway);
    const metric = (device: string, name: string, kind?: string) =>
      modbusMetric(metrics, name, kind === undefined ? { device } : { device, kind });
    const stored = async (id: number) =>
      (await fetchAllReadings(server.port)).filter((r) => r.sensorId === id);
    const storedAtLeast = (ids: number[], count: number, what: string) =>
      waitUntil(
        async () => {
          const readings = await fetchAllReadings(server.port);
          return ids.every((id) => readings.filter((r) => r.sensorId === id).length >= count);
        },
        WAIT_MS,
        what,
      );
    const logged = (pattern: RegExp) => gateway.lines().filter((line) => pattern.test(line)).length;

    await t_step("the device that is down at start is retried and counted", async () => {
      await waitUntil(
        async () => await metric("e-0", "errors", "connect") >= 2,
        WAIT_MS,
        "e-0 retried",
      );
      assert.equal(await metric("e-0", "device_up"), 0);
      assert.equal(logged(/WARN device unreachable: .* device=e-0/), 1, gateway.output());
    });

    await t_step("healthy devices produce, even with an exception on one point", async () => {
      await storedAtLeast([1, 2, 4, 5, 6], 5, "readings of a's sensors");
      assert.deepEqual(await stored(3), []);
      assert.ok(await metric("a-0", "errors", "exception") > 0);
      assert.equal(
        logged(
          /WARN exception response: illegal data address device=a-0 table=holding address=900 /,
        ),
        1,
        gateway.output(),
      );
    });

    await t_step(
      "a wrong transaction id, garbage bytes, a dropped connection: counted, polls go on",
      async () => {
        await storedAtLeast([21, 31, 51], 3, "readings of c, d and f between their bad answers");
        assert.ok(await metric("f-0", "errors", "connect") > 0, "f-0 dropped connections counted");
        assert.ok(await metric("c-0", "errors", "mismatch") > 0);
        assert.ok(await metric("d-0", "errors", "mismatch") > 0);
        assert.ok(
          logged(/WARN response dropped: transaction id \d+, expected \d+ .*device=c-0/) >= 1,
        );
        assert.ok(
          logged(/WARN response dropped: Cannot decode Modbus TCP message: .*device=d-0/) >= 1,
        );
      },
    );

    await t_step(
      "a device slower than the timeout: timeouts, skipped polls, nothing stored",
      async () => {
        await waitUntil(
          async () =>
            await metric("b-0", "errors", "timeout") >= 2 &&
            await metric("b-0", "errors", "overrun") >= 2,
          WAIT_MS,
          "b-0 timeouts and overruns",
        );
        assert.equal(await metric("b-0", "device_up"), 0);
        assert.deepEqual(await stored(11), []);
        assert.equal(logged(/WARN no response in time: no response within 300 ms device=b-0/), 1);
        assert.equal(logged(/WARN poll skipped: the previous poll is still running device=b-0/), 1);
      },
    );

    await t_step(
      "the device that was down comes up: its readings flow, the fault clears once",
      async () => {
        e = await startPlc(["--port", String(ePort), "--first-id", "41"]);
        await storedAtLeast([41, 42, 43], 3, "readings of e");
        assert.equal(await metric("e-0", "device_up"), 1);
        assert.equal(logged(/cleared: device unreachable: .* device=e-0/), 1, gateway.output());
      },
    );

    await t_step(
      "a device killed mid-poll and restarted: the others go on, its seqs go on",
      async () => {
        const before = (await stored(1)).length;
        const connectErrors = await metric("a-0", "errors", "connect");
        await a.stop("SIGKILL");
        await waitUntil(
          async () => await metric("a-0", "errors", "connect") > connectErrors,
          WAIT_MS,
          "a-0 seen down",
        );
        const others = (await stored(41)).length;
        await waitUntil(async () => (await stored(41)).length > others + 3, WAIT_MS, "e goes on");
        a = await startPlc(["--port", String(aPort), "--devices", "2", "--first-id", "1"]);
        await waitUntil(async () => (await stored(1)).length > before + 3, WAIT_MS, "a-0 back");
        const seqs = (await stored(1)).map((r: Reading) => r.seq);
        assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
      },
    );

    await t_step(
      "a TLS sensor presenting a certificate for a Modbus-owned id gets ERROR 2",
      async () => {
        const conn = await connectSensor(gateway.port, pki, 1);
        try {
          const { frames, closed } = await readFrames(conn, () => false, 3_000);
          assert.equal(errorCode(frames), ERROR_CODES.identity);
          assert.ok(closed);
        } finally {
          closeQuietly(conn);
        }
        // The log line is written as the ERROR goes out; it reaches the pipe a moment later.
        await waitUntil(
          () => logged(/sensor 1 belongs to a device source/) > 0,
          WAIT_MS,
          "the identity refusal logged",
        );
        assert.equal(logged(/sensor 1 belongs to a device source/), 1, gateway.output());
      },
    );

    const status = await gateway.stop();
    assert.equal(status.code, 0, gateway.output());
  } catch (error) {
    // deno-lint-ignore no-console
    console.error(gateway.output());
    throw error;
  } finally {
    await a.stop("SIGKILL");
    await e?.stop("SIGKILL");
  }
});

/** Runs one named step (a plain function: the processes outlive the steps). */
async function t_step(name: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (error) {
    throw new Error(`${name}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}
